/**
 * The demo tenant created on the first start: two extensions with generated
 * passwords and voicemail, a ring group, a DID leading to an IVR ("press 1
 * for 1001, 2 for 1002, 9 for voicemail") with tone prompts stored through
 * storage, and an admin API key.
 *
 * @module
 */

import { randomBytes } from 'node:crypto';
import type { IvrFlow, Tenant } from '@voxmesh/core';
import type { BlobStore } from '@voxmesh/storage';
import type { TenantDirectory } from './directory.js';
import { DEMO_PROMPTS, promptKey, renderToneWav } from './prompts.js';

/** The demo tenant's id, domain and inbound number. */
export const DEMO = {
  tenantId: 'demo',
  domain: 'demo.local',
  did: '+15550100',
  ringGroupExtension: '2000',
} as const;

/** What the first start prints: how to use the demo tenant. */
export interface DemoSeed {
  tenant: Tenant;
  users: { extension: string; username: string; password: string }[];
  apiKey: string;
  prompts: string[];
}

/** The demo IVR: a menu; 1 → 1001, 2 → 1002, 9 → voicemail of 1001. */
export function demoFlow(): IvrFlow {
  return {
    id: 'main-menu',
    name: 'Demo main menu',
    start: 'menu',
    nodes: {
      menu: {
        type: 'menu',
        config: {
          prompt: 'ivr-menu',
          options: ['1', '2', '9'],
          noMatchPrompts: ['ivr-invalid'],
          maxAttempts: 3,
        },
        outputs: {
          '1': 'dial-1001',
          '2': 'dial-1002',
          '9': 'voicemail',
          'no-input': 'goodbye',
          'no-match': 'goodbye',
          'max-attempts': 'goodbye',
        },
      },
      'dial-1001': {
        type: 'dial',
        config: { target: { extension: '1001' }, timeoutMs: 20_000 },
        outputs: { busy: 'voicemail', 'no-answer': 'voicemail', failed: 'voicemail' },
      },
      'dial-1002': {
        type: 'dial',
        config: { target: { extension: '1002' }, timeoutMs: 20_000 },
        outputs: {
          busy: 'voicemail-1002',
          'no-answer': 'voicemail-1002',
          failed: 'voicemail-1002',
        },
      },
      voicemail: {
        type: 'voicemail',
        config: { mailbox: '1001', maxDurationMs: 120_000, minDurationMs: 500 },
        outputs: { recorded: 'goodbye', 'no-audio': 'goodbye' },
      },
      'voicemail-1002': {
        type: 'voicemail',
        config: { mailbox: '1002', maxDurationMs: 120_000, minDurationMs: 500 },
        outputs: { recorded: 'goodbye', 'no-audio': 'goodbye' },
      },
      goodbye: { type: 'play', config: { prompt: 'ivr-goodbye' }, outputs: { next: 'hangup' } },
      hangup: { type: 'hangup' },
    },
  };
}

function password(): string {
  // 18 characters of [A-Za-z0-9]: safe in every softphone's settings.
  const alphabet = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789';
  return [...randomBytes(18)].map((b) => alphabet[b % alphabet.length]).join('');
}

/** The demo tenant's configuration (with fresh passwords). */
export function demoTenant(): Tenant {
  const user = (extension: string, displayName: string): Tenant['users'][number] => ({
    id: `u${extension}`,
    extension,
    displayName,
    sip: { username: extension, password: password() },
    voicemail: { enabled: true },
    ringSeconds: 20,
    forwarding: {
      noAnswer: { destination: { type: 'voicemail', extension }, afterSeconds: 20 },
      unavailable: { type: 'voicemail', extension },
    },
  });
  return {
    id: DEMO.tenantId,
    name: 'Demo',
    domain: DEMO.domain,
    timeZone: 'UTC',
    mainNumber: DEMO.did,
    users: [user('1001', 'Demo 1001'), user('1002', 'Demo 1002')],
    ringGroups: [
      {
        id: 'everyone',
        name: 'Everyone',
        extension: DEMO.ringGroupExtension,
        strategy: 'simultaneous',
        members: ['1001', '1002'],
        timeoutSeconds: 20,
        fallback: { type: 'voicemail', extension: '1001' },
      },
    ],
    dids: [{ number: DEMO.did, destination: { type: 'ivr', flowId: 'main-menu' } }],
    flows: [demoFlow()],
  };
}

/** Stores a tenant's demo prompts; returns their storage keys. */
export async function storeDemoPrompts(store: BlobStore, tenantId: string): Promise<string[]> {
  const keys: string[] = [];
  for (const [id, prompt] of Object.entries(DEMO_PROMPTS)) {
    const key = promptKey(tenantId, id);
    await store.put(key, renderToneWav(prompt.segments), {
      contentType: 'audio/wav',
      metadata: { prompt: id },
    });
    keys.push(key);
  }
  return keys;
}

/** Creates the demo tenant, its prompts and an API key. */
export async function seedDemo(directory: TenantDirectory, store: BlobStore): Promise<DemoSeed> {
  const tenant = await directory.putTenant(demoTenant());
  const prompts = await storeDemoPrompts(store, tenant.id);
  const apiKey = await directory.createApiKey(tenant.id);
  return {
    tenant,
    users: tenant.users.map((u) => ({
      extension: u.extension,
      username: u.sip.username,
      password: u.sip.password ?? '',
    })),
    apiKey,
    prompts,
  };
}
