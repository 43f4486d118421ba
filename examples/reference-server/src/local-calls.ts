/**
 * Calls answered by the server itself: IVR flows and voicemail, run by
 * core's `IvrRuntime` over a `SipCallChannel` (the SIP call plus a
 * terminated leg in the media plane).
 *
 * - Prompts are the tenant's WAV files in storage (`<tenant>/prompts/<id>.wav`),
 *   copied once into a local cache directory the media plane reads.
 * - Recordings (voicemail) stream into storage as
 *   `<tenant>/voicemail/<extension>/<message id>.wav`, and an activity
 *   `voicemail` goes to call history.
 * - `dial` nodes ring the target's registered contacts one after another
 *   from the server's user agent, the media relayed through the channel;
 *   when the far end hangs up the caller is back in the flow.
 *
 * @module
 */

import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough, type Writable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import {
  IvrRuntime,
  type Metrics,
  VoxmeshError,
  ErrorCode,
  routeCall,
  silentLogger,
  type BridgeOptions,
  type BridgeResult,
  type BridgeTarget,
  type IvrFlow,
  type Logger,
  type MediaPrompt,
  type PromptSource,
  type TerminatingMediaController,
  type Tenant,
} from '@voxmesh/core';
import type { HistoryOutbox } from '@voxmesh/history';
import {
  SipCallChannel,
  uaBridge,
  type B2buaTarget,
  type Call,
  type UserAgent,
} from '@voxmesh/sip';
import type { BlobStore } from '@voxmesh/storage';
import { voicemailKey } from './admin-api.js';
import type { CallRecord, LocalRouteHandler } from './calls.js';
import type { TenantDirectory } from './directory.js';
import { promptKey } from './prompts.js';

/** Options of the {@link LocalCalls} constructor. */
export interface LocalCallsOptions {
  ua: UserAgent;
  media: TerminatingMediaController;
  directory: TenantDirectory;
  blobs: BlobStore;
  history: HistoryOutbox;
  /** Where prompts are cached as plain WAV files for the media plane. */
  promptCacheDir: string;
  /** The registered contacts of an extension (as the call handler rings them). */
  contacts: (tenant: Tenant, extension: string, ringMs: number) => Promise<B2buaTarget[]>;
  /** @defaultValue `silentLogger` */
  logger?: Logger | undefined;
  /** @defaultValue a private `Metrics` */
  metrics?: Metrics | undefined;
}

/** The flow a voicemail route runs: the mailbox's greeting, the message, goodbye. */
export function voicemailFlow(extension: string): IvrFlow {
  return {
    id: `voicemail-${extension}`,
    start: 'record',
    nodes: {
      record: {
        type: 'voicemail',
        config: { mailbox: extension, maxDurationMs: 120_000, minDurationMs: 500 },
      },
    },
  };
}

/** Runs IVR and voicemail calls. */
export class LocalCalls {
  readonly #o: LocalCallsOptions;
  readonly #logger: Logger;
  readonly #runtime: IvrRuntime;
  readonly #cached = new Map<string, Promise<string | undefined>>();
  readonly #running = new Set<Promise<void>>();

  constructor(options: LocalCallsOptions) {
    this.#o = options;
    this.#logger = options.logger ?? silentLogger;
    this.#runtime = new IvrRuntime({
      registry: options.directory.registry,
      logger: this.#logger.child({ component: 'ivr' }),
      metrics: options.metrics,
    });
  }

  /** The call handler's hook for `ivr` and `voicemail` routes. */
  handle: LocalRouteHandler = ({ call, route, tenant, record }) => {
    const flow =
      route.kind === 'voicemail'
        ? voicemailFlow(route.extension)
        : tenant.flows?.find((f) => f.id === route.flowId);
    if (flow === undefined) return false;
    const running = this.#run(call, flow, tenant, record).catch((error: unknown) => {
      this.#logger.error(
        { err: error, callId: record.callId, tenantId: tenant.id },
        'IVR call failed',
      );
      record.finish();
    });
    this.#running.add(running);
    void running.finally(() => this.#running.delete(running));
    return true;
  };

  /** IVR and voicemail calls in progress. */
  get active(): number {
    return this.#running.size;
  }

  /** Resolves when no IVR or voicemail call is in progress. */
  async idle(): Promise<void> {
    while (this.#running.size > 0) await Promise.allSettled([...this.#running]);
  }

  async #run(call: Call, flow: IvrFlow, tenant: Tenant, record: CallRecord): Promise<void> {
    const uploads: Promise<unknown>[] = [];
    const log = this.#logger.child({ callId: record.callId, tenantId: tenant.id, flowId: flow.id });
    const channel = new SipCallChannel({
      call,
      media: this.#o.media,
      tenantId: tenant.id,
      id: record.callId,
      prompts: (source) => this.#prompt(tenant, source),
      recordingSink: (key, ch) => this.#sink(tenant, key, ch, record, uploads),
      bridge: (ch, target, options) => this.#dial(tenant, ch, target, options, record),
      hangupOnMediaTimeout: true,
      logger: log,
    });
    channel.once('state', (state) => {
      if (state === 'answered' && record.answeredAt === undefined) {
        record.answeredAt = new Date();
        record.disposition = 'answered';
        record.sipStatus = 200;
      }
    });
    log.info('IVR flow started');
    const result = await this.#runtime.run(flow, channel, { tenant });
    record.ivrPath.push(...result.steps.map((s) => `${s.flowId}/${s.nodeId}`));
    if (channel.state !== 'ended') await channel.hangup().catch(() => undefined);
    await Promise.allSettled(uploads);
    record.endedAt = new Date();
    if (record.answeredAt === undefined) {
      record.disposition = result.outcome === 'hangup' ? 'cancelled' : 'failed';
    }
    log.info(
      { outcome: result.outcome, steps: result.steps.length, error: result.error?.message },
      'IVR flow ended',
    );
    record.finish();
  }

  /** A prompt id → the cached WAV file of the tenant's prompt. */
  async #prompt(tenant: Tenant, source: PromptSource): Promise<MediaPrompt | undefined> {
    if (!('prompt' in source)) return undefined;
    const key = promptKey(tenant.id, source.prompt);
    let cached = this.#cached.get(key);
    if (cached === undefined) {
      cached = this.#cache(key);
      this.#cached.set(key, cached);
    }
    const file = await cached;
    if (file === undefined) {
      this.#cached.delete(key);
      throw new VoxmeshError(
        ErrorCode.NOT_FOUND,
        `Tenant '${tenant.id}' has no prompt '${source.prompt}'`,
      );
    }
    return { file };
  }

  async #cache(key: string): Promise<string | undefined> {
    try {
      const { body } = await this.#o.blobs.get(key);
      const bytes = await buffer(body);
      const file = join(this.#o.promptCacheDir, ...key.split('/'));
      await mkdir(join(file, '..'), { recursive: true });
      await writeFile(`${file}.tmp`, bytes);
      await rename(`${file}.tmp`, file);
      return file;
    } catch (error) {
      if (VoxmeshError.is(error, ErrorCode.NOT_FOUND)) return undefined;
      throw error;
    }
  }

  /** A recording's bytes → storage; voicemail keys become the mailbox's messages. */
  #sink(
    tenant: Tenant,
    key: string,
    channel: SipCallChannel,
    record: CallRecord,
    uploads: Promise<unknown>[],
  ): Writable {
    // The voicemail node names its recordings voicemail/<tenant>/<mailbox>/<call>.
    const parts = key.split('/');
    const mailbox = parts[0] === 'voicemail' ? parts[2] : undefined;
    const messageId = `${Date.now().toString(36)}-${record.callId.replace(/[^A-Za-z0-9]/g, '').slice(0, 40)}`;
    const storageKey =
      mailbox !== undefined && /^[0-9]{2,8}$/.test(mailbox)
        ? voicemailKey(tenant.id, mailbox, messageId)
        : `${tenant.id}/recordings/${messageId}.wav`;
    const stream = new PassThrough();
    const receivedAt = new Date().toISOString();
    const upload = this.#o.blobs
      .put(storageKey, stream, {
        contentType: 'audio/wav',
        metadata: {
          from: channel.from.user.replace(/[^\x20-\x7e]/g, '').slice(0, 100) || 'anonymous',
          call_id: record.callId.replace(/[^\x20-\x7e]/g, '').slice(0, 200),
          received_at: receivedAt,
        },
      })
      .then(async (info) => {
        record.recordings.push(storageKey);
        if (mailbox === undefined) return;
        const durationMs = Math.max(0, Math.round((info.size - 44) / 16));
        await this.#o.history.recordActivities([
          {
            tenantId: tenant.id,
            id: `voicemail:${messageId}`,
            at: new Date(receivedAt),
            type: 'voicemail',
            callId: record.callId,
            userId: tenant.users.find((u) => u.extension === mailbox)?.id,
            data: { mailbox, messageId, storageKey, from: channel.from.user, durationMs },
          },
        ]);
        this.#logger.info(
          { tenantId: tenant.id, callId: record.callId, mailbox, durationMs },
          'Voicemail stored',
        );
      });
    upload.catch((error: unknown) => {
      this.#logger.error(
        { err: error, tenantId: tenant.id, callId: record.callId },
        'Recording not stored',
      );
    });
    uploads.push(upload);
    return stream;
  }

  /** `dial` nodes: the target's contacts, one after another, media relayed by the channel (sip's `uaBridge`). */
  async #dial(
    tenant: Tenant,
    channel: SipCallChannel,
    target: BridgeTarget,
    options: BridgeOptions,
    record: CallRecord,
  ): Promise<BridgeResult> {
    const contacts = await this.#contactsOf(
      tenant,
      channel,
      target,
      options.timeoutMs ?? 30_000,
      record,
    );
    if (contacts.length === 0) return { outcome: 'no-answer', sipStatus: 480, talkMs: 0 };
    const from = `<sip:${channel.from.user}@${tenant.domain}>`;
    const dials = contacts.map((contact) => ({ uri: contact.uri, next: contact.next, from }));
    return uaBridge({ ua: this.#o.ua, resolve: () => dials })(channel, target, options);
  }

  /** The registered contacts a dial target rings: a URI as it is, or the users its number routes to. */
  async #contactsOf(
    tenant: Tenant,
    channel: SipCallChannel,
    target: BridgeTarget,
    timeoutMs: number,
    record: CallRecord,
  ): Promise<B2buaTarget[]> {
    if ('uri' in target) return [{ uri: target.uri }];
    const number =
      'extension' in target
        ? target.extension
        : 'group' in target
          ? target.group
          : 'number' in target
            ? target.number
            : undefined;
    if (number === undefined) return [];
    const route = routeCall(this.#o.directory.view, {
      origin: 'user',
      tenantId: tenant.id,
      from: { number: channel.from.user },
      to: number,
      at: Date.now(),
    });
    const extensions =
      route.kind === 'user'
        ? [route.extension]
        : route.kind === 'ring-group'
          ? route.members.map((m) => m.extension)
          : [];
    const contacts: B2buaTarget[] = [];
    for (const extension of extensions) {
      record.users.add(extension);
      contacts.push(...(await this.#o.contacts(tenant, extension, timeoutMs)));
    }
    return contacts;
  }
}
