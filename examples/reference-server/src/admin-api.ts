/**
 * The admin REST API on `node:http`: tenants (with children), their PBX
 * configuration, API keys, call history and statistics, voicemail; plus
 * `/health`, `/metrics` and `/openapi.json`.
 *
 * - Every `/v1` request carries an API key (`Authorization: Bearer <key>`).
 *   A tenant's key reaches that tenant and its descendants; anything else
 *   answers 404 exactly like a tenant that does not exist, so a key learns
 *   nothing about other tenants. The operator key reaches everything.
 * - Bodies are validated with core's TypeBox schemas and the whole
 *   configuration is re-validated (references, limits, IVR flows) before a
 *   write; problems come back as 400 with a JSON pointer per issue.
 * - Bodies over `maxBodyBytes` get 413; unknown routes 404; wrong methods
 *   405 — always a JSON `{ error: { code, message } }`.
 *
 * @module
 */

import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import {
  ErrorCode,
  Tenant,
  VoxmeshError,
  schemaIssues,
  validateFlow,
  silentLogger,
  type Logger,
  type Registry,
  type ValidationIssue,
} from '@voxmesh/core';
import {
  CALL_DISPOSITIONS,
  type CallDisposition,
  type Cdr,
  type HistoryStore,
} from '@voxmesh/history';
import type { BlobStore } from '@voxmesh/storage';
import type { Principal, TenantDirectory } from './directory.js';
import type { TrunkStatus } from './trunks.js';
import { COLLECTIONS, openApiDocument, type CollectionSpec } from './openapi.js';

/** Options of the {@link AdminApi} constructor. */
export interface AdminApiOptions {
  directory: TenantDirectory;
  /** Where call history is read. */
  history: HistoryStore;
  /** Where voicemail lives. */
  blobs: BlobStore;
  /** Served at `/metrics`. */
  registry: Registry;
  /** `true` while the server takes new work (`/health` 200), `false` while draining (503). */
  healthy: () => boolean;
  /**
   * A trunk's registration status (`GET /v1/tenants/{tenantId}/trunks/{trunkId}/status`).
   * @defaultValue none (the status is 404)
   */
  trunkStatus?: ((tenantId: string, trunkId: string) => TrunkStatus | undefined) | undefined;
  /**
   * Largest request body; larger ones get 413.
   * @defaultValue `1048576`
   */
  maxBodyBytes?: number | undefined;
  /** @defaultValue `silentLogger` */
  logger?: Logger | undefined;
}

/** An answer with a status and a JSON error body. */
class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly issues?: readonly ValidationIssue[],
  ) {
    super(message);
  }
}

const notFound = (): HttpError => new HttpError(404, 'NOT_FOUND', 'Not found');

type Secretive = { sip?: { password?: string; ha1?: string } | undefined };

/** Removes passwords and HA1s from what the API returns. */
function redact<T>(value: T): T {
  return JSON.parse(JSON.stringify(value), (key, v: unknown) =>
    key === 'password' || key === 'ha1' ? undefined : v,
  ) as T;
}

/** Keeps stored secrets for items (by id) whose new version leaves them out. */
function keepSecrets(
  next: readonly Secretive[] | undefined,
  current: readonly Secretive[] | undefined,
  secret: (item: Secretive) => { password?: string; ha1?: string } | undefined,
): void {
  if (next === undefined || current === undefined) return;
  const byId = new Map(current.map((item) => [(item as { id?: string }).id, item]));
  for (const item of next) {
    const old = byId.get((item as { id?: string }).id);
    const fresh = secret(item);
    const stored = old === undefined ? undefined : secret(old);
    if (fresh === undefined || stored === undefined) continue;
    if (fresh.password === undefined && fresh.ha1 === undefined) {
      if (stored.password !== undefined) fresh.password = stored.password;
      else if (stored.ha1 !== undefined) fresh.ha1 = stored.ha1;
    }
  }
}

function preserveTenantSecrets(next: Tenant, current: Tenant | undefined): void {
  if (current === undefined) return;
  keepSecrets(next.users, current.users, (u) => u.sip);
  keepSecrets(next.devices, current.devices, (d) => d.sip);
  keepSecrets(
    next.trunks as Secretive[] | undefined,
    current.trunks as Secretive[] | undefined,
    (t) => (t as { auth?: { password?: string; ha1?: string } }).auth,
  );
}

function cdrJson(cdr: Cdr): Record<string, unknown> {
  return {
    ...cdr,
    startedAt: cdr.startedAt.toISOString(),
    answeredAt: cdr.answeredAt?.toISOString(),
    endedAt: cdr.endedAt.toISOString(),
    expireAt: cdr.expireAt?.toISOString(),
  };
}

function date(query: URLSearchParams, name: string, required = false): Date | undefined {
  const raw = query.get(name);
  if (raw === null) {
    if (required)
      throw new HttpError(400, 'INVALID_INPUT', `Query parameter '${name}' is required`, [
        { path: `?${name}`, message: 'Required' },
      ]);
    return undefined;
  }
  const d = new Date(raw);
  if (Number.isNaN(d.getTime())) {
    throw new HttpError(400, 'INVALID_INPUT', `'${name}' is not a date`, [
      { path: `?${name}`, message: `Expected an ISO 8601 date-time, got ${JSON.stringify(raw)}` },
    ]);
  }
  return d;
}

/** A voicemail message's storage key. */
export function voicemailKey(tenantId: string, extension: string, messageId: string): string {
  return `${tenantId}/voicemail/${extension}/${messageId}.wav`;
}

/** The admin API's request handler (mount it in any `node:http` server). */
export class AdminApi {
  readonly #o: AdminApiOptions;
  readonly #logger: Logger;
  readonly #maxBody: number;
  readonly #openapi: string;

  constructor(options: AdminApiOptions) {
    this.#o = options;
    this.#logger = options.logger ?? silentLogger;
    this.#maxBody = options.maxBodyBytes ?? 1024 * 1024;
    this.#openapi = JSON.stringify(openApiDocument());
  }

  /** Handles one request; never throws. */
  handle = (req: IncomingMessage, res: ServerResponse): void => {
    this.#route(req, res).catch((error: unknown) => {
      this.#fail(req, res, error);
    });
  };

  #fail(req: IncomingMessage, res: ServerResponse, error: unknown): void {
    let http: HttpError;
    if (error instanceof HttpError) http = error;
    else if (VoxmeshError.is(error)) {
      const issues = (error as { issues?: readonly ValidationIssue[] }).issues;
      switch (error.code) {
        case ErrorCode.NOT_FOUND:
          http = notFound();
          break;
        case ErrorCode.INVALID_CONFIG:
        case ErrorCode.INVALID_FLOW:
        case ErrorCode.INVALID_INPUT:
          http = new HttpError(400, error.code, error.message, issues);
          break;
        case ErrorCode.INVALID_STATE:
          http = new HttpError(409, 'CONFLICT', error.message);
          break;
        default:
          http = new HttpError(500, 'INTERNAL_ERROR', 'Internal error');
      }
    } else {
      http = new HttpError(500, 'INTERNAL_ERROR', 'Internal error');
    }
    if (http.status >= 500) {
      this.#logger.error(
        { err: error, method: req.method, url: req.url },
        'Admin API request failed',
      );
    }
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const body: Record<string, unknown> = { code: http.code, message: http.message };
    if (http.issues !== undefined) body.issues = http.issues;
    this.#send(
      res,
      http.status,
      { error: body },
      http.status === 401 ? { 'www-authenticate': 'Bearer' } : {},
    );
    // An oversized body is not read to its end: close the connection after answering.
    if (http.status === 413) res.on('finish', () => req.destroy());
  }

  #send(
    res: ServerResponse,
    status: number,
    body: unknown,
    headers: Record<string, string> = {},
  ): void {
    if (status === 204) {
      res.writeHead(204, headers).end();
      return;
    }
    const text = JSON.stringify(body);
    res.writeHead(status, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(text),
      ...headers,
    });
    res.end(text);
  }

  async #body(req: IncomingMessage): Promise<unknown> {
    const declared = Number(req.headers['content-length'] ?? NaN);
    if (Number.isFinite(declared) && declared > this.#maxBody) {
      throw new HttpError(
        413,
        'PAYLOAD_TOO_LARGE',
        `The body is larger than ${this.#maxBody} bytes`,
      );
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > this.#maxBody) {
        throw new HttpError(
          413,
          'PAYLOAD_TOO_LARGE',
          `The body is larger than ${this.#maxBody} bytes`,
        );
      }
      chunks.push(chunk);
    }
    const text = Buffer.concat(chunks).toString('utf8');
    if (text.trim() === '') throw new HttpError(400, 'INVALID_INPUT', 'A JSON body is required');
    try {
      return JSON.parse(text) as unknown;
    } catch (error) {
      throw new HttpError(
        400,
        'INVALID_INPUT',
        `The body is not valid JSON: ${(error as Error).message}`,
      );
    }
  }

  #principal(req: IncomingMessage): Principal {
    const header = req.headers.authorization;
    const key =
      header !== undefined && /^bearer\s+/i.test(header)
        ? header.replace(/^bearer\s+/i, '').trim()
        : typeof req.headers['x-api-key'] === 'string'
          ? req.headers['x-api-key']
          : undefined;
    if (key === undefined || key === '') {
      throw new HttpError(
        401,
        'UNAUTHORIZED',
        'An API key is required (Authorization: Bearer <key>)',
      );
    }
    const principal = this.#o.directory.authenticate(key);
    if (principal === undefined) throw new HttpError(401, 'UNAUTHORIZED', 'Unknown API key');
    return principal;
  }

  #tenant(principal: Principal, tenantId: string): Tenant {
    const tenant = this.#o.directory.tenant(tenantId);
    if (tenant === undefined || !this.#o.directory.canAccess(principal, tenantId)) throw notFound();
    return tenant;
  }

  async #route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const method = req.method ?? 'GET';
    const segments = url.pathname
      .split('/')
      .filter((s) => s !== '')
      .map((s) => {
        try {
          return decodeURIComponent(s);
        } catch {
          throw notFound();
        }
      });
    const only = (...methods: string[]): void => {
      if (!methods.includes(method)) {
        throw new HttpError(405, 'METHOD_NOT_ALLOWED', `${method} is not allowed here`);
      }
    };

    if (segments.length === 1 && segments[0] === 'health') {
      only('GET', 'HEAD');
      const ok = this.#o.healthy();
      this.#send(res, ok ? 200 : 503, { status: ok ? 'running' : 'draining' });
      return;
    }
    if (segments.length === 1 && segments[0] === 'metrics') {
      only('GET');
      const text = await this.#o.registry.metrics();
      res.writeHead(200, { 'content-type': this.#o.registry.contentType });
      res.end(text);
      return;
    }
    if (segments.length === 1 && segments[0] === 'openapi.json') {
      only('GET');
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' });
      res.end(this.#openapi);
      return;
    }
    if (segments[0] !== 'v1' || segments[1] !== 'tenants') throw notFound();
    const principal = this.#principal(req);
    const directory = this.#o.directory;

    if (segments.length === 2) {
      only('GET', 'POST');
      if (method === 'GET') {
        const visible = directory.tenants().filter((t) => directory.canAccess(principal, t.id));
        this.#send(res, 200, redact(visible));
        return;
      }
      const body = await this.#body(req);
      const tenant = this.#validTenant(body);
      if (principal.kind === 'tenant') {
        // A tenant key creates children of tenants it manages, nothing else.
        if (tenant.parentId === undefined || !directory.canAccess(principal, tenant.parentId)) {
          throw new HttpError(400, 'INVALID_INPUT', 'A tenant key can only create child tenants', [
            { path: '/parentId', message: 'Set it to your tenant (or one of its descendants)' },
          ]);
        }
      }
      if (directory.tenant(tenant.id) !== undefined) {
        // Indistinguishable from any other conflict: says nothing about the owner.
        throw new HttpError(409, 'CONFLICT', `Tenant id '${tenant.id}' is not available`);
      }
      const created = await directory.putTenant(tenant);
      this.#audit(principal, created.id, 'tenant created');
      this.#send(res, 201, redact(created));
      return;
    }

    const tenantId = segments[2] as string;
    const tenant = this.#tenant(principal, tenantId);
    const rest = segments.slice(3);

    if (rest.length === 0) {
      only('GET', 'PUT', 'DELETE');
      if (method === 'GET') {
        this.#send(res, 200, redact(tenant));
      } else if (method === 'PUT') {
        const body = await this.#body(req);
        const next = this.#validTenant(body);
        if (next.id !== tenantId) {
          throw new HttpError(400, 'INVALID_INPUT', 'The id in the body differs from the URL', [
            { path: '/id', message: `Expected '${tenantId}'` },
          ]);
        }
        if (principal.kind === 'tenant' && next.parentId !== tenant.parentId) {
          if (
            principal.tenantId === tenantId ||
            next.parentId === undefined ||
            !directory.canAccess(principal, next.parentId)
          ) {
            throw new HttpError(400, 'INVALID_INPUT', 'The tenant cannot move there', [
              {
                path: '/parentId',
                message: 'Only the operator or a managing tenant may re-parent',
              },
            ]);
          }
        }
        const saved = await directory.update(tenantId, (current) => {
          preserveTenantSecrets(next, current);
          return next;
        });
        this.#audit(principal, tenantId, 'tenant replaced');
        this.#send(res, 200, redact(saved));
      } else {
        if (principal.kind === 'tenant' && principal.tenantId === tenantId) {
          throw new HttpError(
            409,
            'CONFLICT',
            'A tenant cannot delete itself; ask its parent or the operator',
          );
        }
        await directory.deleteTenant(tenantId);
        this.#audit(principal, tenantId, 'tenant deleted');
        this.#send(res, 204, undefined);
      }
      return;
    }

    const [section, id, sub, subId, ...extra] = rest;
    if (section === 'trunks' && id !== undefined && sub === 'status' && rest.length === 3) {
      only('GET');
      const status = this.#o.trunkStatus?.(tenantId, id);
      if (status === undefined) throw notFound();
      this.#send(res, 200, status);
      return;
    }
    if (section === 'children' && rest.length === 1) {
      only('GET');
      this.#send(res, 200, redact(directory.tenants().filter((t) => t.parentId === tenantId)));
      return;
    }
    if (section === 'api-keys' && rest.length === 1) {
      only('POST');
      const key = await directory.createApiKey(tenantId);
      this.#audit(principal, tenantId, 'API key created');
      this.#send(res, 201, { key, tenantId });
      return;
    }
    if (section === 'calls' && rest.length === 1) {
      only('GET');
      await this.#calls(res, tenantId, url.searchParams);
      return;
    }
    if (section === 'statistics' && rest.length === 1) {
      only('GET');
      const granularity = url.searchParams.get('granularity') ?? 'day';
      if (granularity !== 'hour' && granularity !== 'day') {
        throw new HttpError(400, 'INVALID_INPUT', "granularity is 'hour' or 'day'", [
          {
            path: '?granularity',
            message: `Expected 'hour' or 'day', got ${JSON.stringify(granularity)}`,
          },
        ]);
      }
      const stats = await this.#o.history.statistics({
        tenantId,
        since: date(url.searchParams, 'since', true) as Date,
        until: date(url.searchParams, 'until', true) as Date,
        granularity,
        timeZone: tenant.timeZone,
      });
      this.#send(res, 200, stats);
      return;
    }
    if (section === 'users' && id !== undefined && sub === 'voicemails' && extra.length === 0) {
      const user = tenant.users.find((u) => u.id === id);
      if (user === undefined) throw notFound();
      if (subId === undefined) {
        only('GET');
        this.#send(res, 200, await this.#voicemails(tenantId, user.extension));
      } else {
        only('GET', 'DELETE');
        await this.#voicemail(res, method, tenantId, user.extension, subId);
      }
      return;
    }
    const spec = COLLECTIONS.find((c) => c.path === section);
    if (spec === undefined || sub !== undefined) throw notFound();
    if (id === undefined) {
      only('GET', 'POST');
      if (method === 'GET') {
        this.#send(res, 200, redact(items(tenant, spec)));
        return;
      }
      const body = await this.#body(req);
      const item = this.#validItem(spec, body);
      const key = item[spec.key] as string;
      const saved = await directory.update(tenantId, (t) => {
        const current = t as Tenant;
        const list = items(current, spec);
        if (list.some((x) => x[spec.key] === key)) {
          throw new HttpError(409, 'CONFLICT', `${spec.component} '${key}' already exists`);
        }
        list.push(item);
        setItems(current, spec, list);
        return current;
      });
      this.#audit(principal, tenantId, `${spec.component} ${key} created`);
      this.#send(res, 201, redact(items(saved, spec).find((x) => x[spec.key] === key)));
      return;
    }
    only('GET', 'PUT', 'DELETE');
    const existing = items(tenant, spec).find((x) => x[spec.key] === id);
    if (existing === undefined) throw notFound();
    if (method === 'GET') {
      this.#send(res, 200, redact(existing));
      return;
    }
    if (method === 'DELETE') {
      await directory.update(tenantId, (t) => {
        const current = t as Tenant;
        const list = items(current, spec).filter((x) => x[spec.key] !== id);
        setItems(current, spec, list);
        return current;
      });
      this.#audit(principal, tenantId, `${spec.component} ${id} deleted`);
      this.#send(res, 204, undefined);
      return;
    }
    const body = await this.#body(req);
    const item = this.#validItem(spec, body);
    if (item[spec.key] !== id) {
      throw new HttpError(
        400,
        'INVALID_INPUT',
        `The ${spec.key} in the body differs from the URL`,
        [{ path: `/${spec.key}`, message: `Expected '${id}'` }],
      );
    }
    const saved = await directory.update(tenantId, (t) => {
      const current = t as Tenant;
      const list = items(current, spec);
      const index = list.findIndex((x) => x[spec.key] === id);
      if (index < 0) throw notFound();
      keepSecrets([item], [list[index] as Secretive], (x) =>
        spec.property === 'trunks' ? (x as { auth?: { password?: string } }).auth : x.sip,
      );
      list[index] = item;
      setItems(current, spec, list);
      return current;
    });
    this.#audit(principal, tenantId, `${spec.component} ${id} replaced`);
    this.#send(res, 200, redact(items(saved, spec).find((x) => x[spec.key] === id)));
  }

  #validTenant(body: unknown): Tenant {
    const issues = schemaIssues(Tenant, body);
    if (issues.length > 0) {
      throw new HttpError(400, 'INVALID_INPUT', 'The tenant is invalid', issues);
    }
    return body as Tenant;
  }

  #validItem(spec: CollectionSpec, body: unknown): Record<string, unknown> {
    const issues = schemaIssues(spec.schema, body);
    if (issues.length > 0) {
      throw new HttpError(400, 'INVALID_INPUT', `The ${spec.component} is invalid`, issues);
    }
    if (spec.property === 'flows') {
      // IVR flows: node types, configs, outputs, reachability (core's validateFlow).
      validateFlow(body, { registry: this.#o.directory.registry });
    }
    return body as Record<string, unknown>;
  }

  async #calls(res: ServerResponse, tenantId: string, query: URLSearchParams): Promise<void> {
    const disposition = query.get('disposition') ?? undefined;
    if (disposition !== undefined && !CALL_DISPOSITIONS.includes(disposition as CallDisposition)) {
      throw new HttpError(400, 'INVALID_INPUT', 'Unknown disposition', [
        { path: '?disposition', message: `Expected one of ${CALL_DISPOSITIONS.join(', ')}` },
      ]);
    }
    const limitRaw = query.get('limit');
    const limit = limitRaw === null ? undefined : Number(limitRaw);
    if (limit !== undefined && !(Number.isInteger(limit) && limit >= 1 && limit <= 1000)) {
      throw new HttpError(400, 'INVALID_INPUT', 'limit is an integer from 1 to 1000', [
        { path: '?limit', message: `Expected 1..1000, got ${JSON.stringify(limitRaw)}` },
      ]);
    }
    const page = await this.#o.history.queryCdrs({
      tenantId,
      since: date(query, 'since'),
      until: date(query, 'until'),
      user: query.get('user') ?? undefined,
      number: query.get('number') ?? undefined,
      disposition: disposition as CallDisposition | undefined,
      limit,
      cursor: query.get('cursor') ?? undefined,
    });
    this.#send(res, 200, { items: page.items.map(cdrJson), cursor: page.cursor });
  }

  async #voicemails(tenantId: string, extension: string): Promise<unknown[]> {
    const prefix = `${tenantId}/voicemail/${extension}/`;
    const out: Record<string, unknown>[] = [];
    for await (const entry of this.#o.blobs.list({ prefix })) {
      const id = entry.key.slice(prefix.length).replace(/\.wav$/, '');
      const info = await this.#o.blobs.head(entry.key).catch(() => undefined);
      if (info === undefined) continue;
      // 8 kHz 16-bit mono after a 44-byte header, unless the metadata says otherwise.
      const duration = Number(
        info.metadata.duration_ms ?? Math.max(0, Math.round((info.size - 44) / 16)),
      );
      out.push({
        id,
        extension,
        from: info.metadata.from,
        callId: info.metadata.call_id,
        receivedAt: info.metadata.received_at ?? info.lastModified.toISOString(),
        durationMs: Number.isFinite(duration) ? duration : undefined,
        sizeBytes: info.size,
      });
    }
    return out.sort((a, b) => String(b.receivedAt).localeCompare(String(a.receivedAt)));
  }

  async #voicemail(
    res: ServerResponse,
    method: string,
    tenantId: string,
    extension: string,
    messageId: string,
  ): Promise<void> {
    if (!/^[A-Za-z0-9._-]{1,128}$/.test(messageId) || messageId.startsWith('.')) throw notFound();
    const key = voicemailKey(tenantId, extension, messageId);
    const info = await this.#o.blobs.head(key).catch((error: unknown) => {
      if (VoxmeshError.is(error) && error.code === ErrorCode.NOT_FOUND) return undefined;
      throw error;
    });
    if (info === undefined) throw notFound();
    if (method === 'DELETE') {
      await this.#o.blobs.delete(key);
      this.#send(res, 204, undefined);
      return;
    }
    const { body } = await this.#o.blobs.get(key);
    res.writeHead(200, {
      'content-type': 'audio/wav',
      'content-length': info.size,
      etag: info.etag,
      'content-disposition': `attachment; filename="${messageId}.wav"`,
    });
    await pipeline(body, res);
  }

  #audit(principal: Principal, tenantId: string, what: string): void {
    this.#logger.info(
      { tenantId, by: principal.kind === 'root' ? 'operator' : principal.tenantId },
      `Admin API: ${what}`,
    );
  }
}

function items(tenant: Tenant, spec: CollectionSpec): Record<string, unknown>[] {
  return [...((tenant[spec.property] ?? []) as Record<string, unknown>[])];
}

function setItems(tenant: Tenant, spec: CollectionSpec, list: Record<string, unknown>[]): void {
  (tenant as Record<string, unknown>)[spec.property] = list;
}
