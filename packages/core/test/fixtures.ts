import type { Tenant } from '../src/index.js';

/** A reseller with two customer tenants and one unrelated tenant. */
export function tenants(): Tenant[] {
  return [
    {
      id: 'reseller',
      name: 'Reseller',
      domain: 'reseller.example',
      timeZone: 'UTC',
      limits: { maxUsers: 100, maxChildren: 5 },
      users: [],
      trunks: [{ id: 'carrier-r', host: 'sip.carrier.example' }],
      emergency: { numbers: ['112', '911'], trunkIds: ['carrier-r'] },
    },
    {
      id: 'acme',
      parentId: 'reseller',
      name: 'Acme',
      domain: 'acme.example',
      timeZone: 'Europe/Berlin',
      mainNumber: '+49301110',
      limits: { maxUsers: 10, maxChildren: 0 },
      externalPrefix: '0',
      users: [
        {
          id: 'alice',
          extension: '101',
          displayName: 'Alice',
          sip: { username: 'alice', password: 'secret-alice' },
          callerId: { number: '+49301111', displayName: 'Alice A.' },
          emergencyCallerId: '+49301199',
          voicemail: { enabled: true },
        },
        {
          id: 'bob',
          extension: '102',
          displayName: 'Bob',
          sip: { username: 'bob', password: 'secret-bobb' },
          forwarding: { busy: { type: 'extension', extension: '101' } },
          outboundClass: 'national',
        },
        {
          id: 'carol',
          extension: '103',
          displayName: 'Carol',
          sip: { username: 'carol', password: 'secret-carol' },
          forwarding: { always: { type: 'number', number: '0301234567' } },
        },
        {
          id: 'dave',
          extension: '104',
          displayName: 'Dave',
          sip: { username: 'dave', password: 'secret-dave' },
          dnd: true,
          voicemail: { enabled: true },
        },
        {
          id: 'erin',
          extension: '105',
          displayName: 'Erin',
          sip: { username: 'erin', password: 'secret-erin' },
          forwarding: { always: { type: 'extension', extension: '106' } },
        },
        {
          id: 'frank',
          extension: '106',
          displayName: 'Frank',
          sip: { username: 'frank', password: 'secret-frank' },
          forwarding: { always: { type: 'extension', extension: '105' } },
        },
      ],
      devices: [
        { id: 'alice-desk', userId: 'alice', kind: 'desk-phone', mac: '00:11:22:33:44:55' },
      ],
      ringGroups: [
        { id: 'sales', extension: '200', strategy: 'simultaneous', members: ['101', '102'] },
        {
          id: 'support',
          extension: '201',
          strategy: 'sequential',
          members: ['102', '104', '101'],
          memberSeconds: 10,
          fallback: { type: 'voicemail', extension: '101' },
        },
      ],
      dids: [
        {
          number: '+49301110',
          destination: { type: 'ivr', flowId: 'main' },
          schedule: {
            scheduleId: 'office',
            closed: { type: 'voicemail', extension: '101' },
            holiday: { type: 'hangup' },
          },
        },
        { number: '+49301111', destination: { type: 'extension', extension: '101' } },
      ],
      trunks: [
        { id: 'carrier-a', host: 'a.carrier.example' },
        { id: 'carrier-b', host: 'b.carrier.example', transport: 'tls' },
      ],
      outboundRoutes: [
        {
          id: 'national',
          prefixes: ['0'],
          trunkIds: ['carrier-a', 'carrier-b'],
          strip: 1,
          prepend: '+49',
        },
        {
          id: 'international',
          prefixes: ['00'],
          trunkIds: ['carrier-b'],
          strip: 2,
          prepend: '+',
          presentation: { mode: 'tenant' },
        },
        {
          id: 'premium',
          prefixes: ['0900'],
          trunkIds: ['carrier-a'],
          presentation: { mode: 'anonymous' },
        },
      ],
      schedules: [
        {
          id: 'office',
          weekly: [{ days: ['mon', 'tue', 'wed', 'thu', 'fri'], from: '09:00', to: '17:00' }],
          holidays: [{ date: '--12-25' }],
        },
      ],
      flows: [
        {
          id: 'main',
          start: 'hello',
          nodes: { hello: { type: 'play', config: { prompt: 'hello' } } },
        },
      ],
      blacklist: [{ number: '+4915112345678' }, { number: '+44700*', reason: 'spam range' }],
      rejectAnonymous: true,
      interTenant: {
        outbound: ['globex'],
        inbound: true,
        presentation: { prefix: '7', displayName: 'Acme' },
        routes: [{ prefix: '88', tenantId: 'globex' }],
      },
    },
    {
      id: 'globex',
      parentId: 'reseller',
      name: 'Globex',
      domain: 'globex.example',
      timeZone: 'America/New_York',
      limits: { maxUsers: 5, maxChildren: 0 },
      users: [
        {
          id: 'gina',
          extension: '301',
          displayName: 'Gina',
          sip: { username: 'gina', ha1: '0123456789abcdef0123456789abcdef' },
        },
      ],
      interTenant: { outbound: true, inbound: ['acme'] },
    },
    {
      id: 'initech',
      name: 'Initech',
      domain: 'initech.example',
      timeZone: 'UTC',
      users: [
        {
          id: 'ivan',
          extension: '401',
          displayName: 'Ivan',
          sip: { username: 'ivan', password: 'secret-ivan' },
        },
      ],
      interTenant: { outbound: true, inbound: true, presentation: { prefix: '9' } },
    },
  ];
}
