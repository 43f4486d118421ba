/**
 * The admin API's OpenAPI 3.1 document, generated from core's TypeBox
 * schemas (the same schemas that validate request bodies).
 *
 * @module
 */

import { Type, type TSchema } from '@sinclair/typebox';
import {
  Device,
  Did,
  IvrFlow,
  OutboundRoute,
  RingGroup,
  Schedule,
  Tenant,
  Trunk,
  User,
} from '@voxmesh/core';

/** A child collection of a tenant, as the admin API exposes it. */
export interface CollectionSpec {
  /** The URL segment (`ring-groups`). */
  path: string;
  /** The tenant document's property (`ringGroups`). */
  property:
    | 'users'
    | 'devices'
    | 'ringGroups'
    | 'dids'
    | 'trunks'
    | 'outboundRoutes'
    | 'flows'
    | 'schedules';
  /** The field that identifies an item (`id`, or `number` for DIDs). */
  key: 'id' | 'number';
  /** The component name in the OpenAPI document. */
  component: string;
  schema: TSchema;
}

/** Every child collection the admin API serves. */
export const COLLECTIONS: readonly CollectionSpec[] = [
  { path: 'users', property: 'users', key: 'id', component: 'User', schema: User },
  { path: 'devices', property: 'devices', key: 'id', component: 'Device', schema: Device },
  {
    path: 'ring-groups',
    property: 'ringGroups',
    key: 'id',
    component: 'RingGroup',
    schema: RingGroup,
  },
  { path: 'dids', property: 'dids', key: 'number', component: 'Did', schema: Did },
  { path: 'trunks', property: 'trunks', key: 'id', component: 'Trunk', schema: Trunk },
  {
    path: 'outbound-routes',
    property: 'outboundRoutes',
    key: 'id',
    component: 'OutboundRoute',
    schema: OutboundRoute,
  },
  { path: 'flows', property: 'flows', key: 'id', component: 'IvrFlow', schema: IvrFlow },
  { path: 'schedules', property: 'schedules', key: 'id', component: 'Schedule', schema: Schedule },
];

/** A CDR as the admin API returns it (dates as ISO strings). */
export const CdrSchema = Type.Object({
  id: Type.String(),
  tenantId: Type.String(),
  callId: Type.String(),
  leg: Type.String(),
  direction: Type.Union([
    Type.Literal('inbound'),
    Type.Literal('outbound'),
    Type.Literal('internal'),
  ]),
  from: Type.String(),
  to: Type.String(),
  users: Type.Array(Type.String()),
  startedAt: Type.String({ format: 'date-time' }),
  answeredAt: Type.Optional(Type.String({ format: 'date-time' })),
  endedAt: Type.String({ format: 'date-time' }),
  durationMs: Type.Integer(),
  talkMs: Type.Integer(),
  disposition: Type.Union(
    ['answered', 'no-answer', 'busy', 'failed', 'cancelled'].map((d) => Type.Literal(d)),
  ),
  hangupCause: Type.Optional(Type.Integer()),
  sipStatus: Type.Optional(Type.Integer()),
  ivrPath: Type.Array(Type.String()),
  recordings: Type.Array(Type.String()),
});

/** A voicemail message in a user's mailbox. */
export const VoicemailSchema = Type.Object({
  id: Type.String(),
  extension: Type.String(),
  from: Type.Optional(Type.String()),
  callId: Type.Optional(Type.String()),
  receivedAt: Type.String({ format: 'date-time' }),
  durationMs: Type.Optional(Type.Integer()),
  sizeBytes: Type.Integer(),
});

/** An error answer. */
export const ErrorSchema = Type.Object({
  error: Type.Object({
    code: Type.String(),
    message: Type.String(),
    issues: Type.Optional(
      Type.Array(Type.Object({ path: Type.String(), message: Type.String() }), {
        description: 'For 400: each problem with the JSON pointer of the offending value',
      }),
    ),
  }),
});

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: unknown) => ({ 'application/json': { schema } });
const errors = {
  '400': {
    description: 'Invalid body or query (issues name the paths)',
    content: json(ref('Error')),
  },
  '401': { description: 'Missing or unknown API key', content: json(ref('Error')) },
  '404': {
    description:
      'Not found, or not visible to this key (other tenants are indistinguishable from missing ones)',
    content: json(ref('Error')),
  },
};
const bodyErrors = {
  ...errors,
  '409': { description: 'Conflicts with existing configuration', content: json(ref('Error')) },
  '413': { description: 'Body larger than http.maxBodyBytes', content: json(ref('Error')) },
};
const tenantParam = {
  name: 'tenantId',
  in: 'path',
  required: true,
  schema: { type: 'string' },
};

/** Strips TypeBox's `$id` (components are named by key). */
function plain(schema: TSchema): unknown {
  return JSON.parse(JSON.stringify(schema), (key, value: unknown) =>
    key === '$id' ? undefined : value,
  );
}

/** The OpenAPI document of the admin API. */
export function openApiDocument(): Record<string, unknown> {
  const paths: Record<string, unknown> = {
    '/health': {
      get: {
        summary: 'Health: 200 while running, 503 while draining or stopping',
        security: [],
        responses: { '200': { description: 'Running' }, '503': { description: 'Draining' } },
      },
    },
    '/metrics': {
      get: {
        summary: 'Prometheus metrics (text exposition format)',
        security: [],
        responses: { '200': { description: 'Metrics', content: { 'text/plain': {} } } },
      },
    },
    '/v1/tenants': {
      get: {
        summary:
          'Tenants visible to the key (the operator key sees all; a tenant key its tenant and descendants)',
        responses: {
          '200': { description: 'Tenants', content: json({ type: 'array', items: ref('Tenant') }) },
          ...errors,
        },
      },
      post: {
        summary:
          'Creates a tenant: the operator key any tenant; a tenant key only a child of a tenant it manages (set parentId)',
        requestBody: { required: true, content: json(ref('Tenant')) },
        responses: {
          '201': { description: 'Created', content: json(ref('Tenant')) },
          ...bodyErrors,
        },
      },
    },
    '/v1/tenants/{tenantId}': {
      parameters: [tenantParam],
      get: {
        summary: 'A tenant with all its configuration',
        responses: {
          '200': { description: 'The tenant', content: json(ref('Tenant')) },
          ...errors,
        },
      },
      put: {
        summary:
          'Replaces a tenant (secrets left out are kept for existing users, devices and trunks)',
        requestBody: { required: true, content: json(ref('Tenant')) },
        responses: {
          '200': { description: 'Replaced', content: json(ref('Tenant')) },
          ...bodyErrors,
        },
      },
      delete: {
        summary: 'Deletes a tenant (one without children) and its API keys',
        responses: { '204': { description: 'Deleted' }, ...bodyErrors },
      },
    },
    '/v1/tenants/{tenantId}/children': {
      parameters: [tenantParam],
      get: {
        summary: 'Direct child tenants',
        responses: {
          '200': {
            description: 'Children',
            content: json({ type: 'array', items: ref('Tenant') }),
          },
          ...errors,
        },
      },
    },
    '/v1/tenants/{tenantId}/trunks/{trunkId}/status': {
      parameters: [
        tenantParam,
        { name: 'trunkId', in: 'path', required: true, schema: { type: 'string' } },
      ],
      get: {
        summary:
          "A trunk's registration with its carrier: disabled (register not set), registering, registered, failed or misconfigured (no auth.password)",
        responses: {
          '200': { description: 'The status', content: json(ref('TrunkStatus')) },
          ...errors,
        },
      },
    },
    '/v1/tenants/{tenantId}/api-keys': {
      parameters: [tenantParam],
      post: {
        summary: 'Creates an API key for the tenant (shown once)',
        responses: {
          '201': {
            description: 'The key',
            content: json({ type: 'object', properties: { key: { type: 'string' } } }),
          },
          ...errors,
        },
      },
    },
    '/v1/tenants/{tenantId}/calls': {
      parameters: [tenantParam],
      get: {
        summary: 'Call history (CDRs, one per leg), newest first',
        parameters: [
          { name: 'since', in: 'query', schema: { type: 'string', format: 'date-time' } },
          { name: 'until', in: 'query', schema: { type: 'string', format: 'date-time' } },
          { name: 'user', in: 'query', schema: { type: 'string' }, description: 'An extension' },
          { name: 'number', in: 'query', schema: { type: 'string' } },
          { name: 'disposition', in: 'query', schema: { type: 'string' } },
          { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 1000 } },
          { name: 'cursor', in: 'query', schema: { type: 'string' } },
        ],
        responses: {
          '200': {
            description: 'One page',
            content: json({
              type: 'object',
              properties: {
                items: { type: 'array', items: ref('Cdr') },
                cursor: { type: 'string' },
              },
            }),
          },
          ...errors,
        },
      },
    },
    '/v1/tenants/{tenantId}/statistics': {
      parameters: [tenantParam],
      get: {
        summary:
          "Calls, answered calls, minutes and averages per hour or day in the tenant's time zone",
        parameters: [
          {
            name: 'since',
            in: 'query',
            required: true,
            schema: { type: 'string', format: 'date-time' },
          },
          {
            name: 'until',
            in: 'query',
            required: true,
            schema: { type: 'string', format: 'date-time' },
          },
          { name: 'granularity', in: 'query', schema: { type: 'string', enum: ['hour', 'day'] } },
        ],
        responses: {
          '200': { description: 'Statistics', content: json({ type: 'object' }) },
          ...errors,
        },
      },
    },
    '/v1/tenants/{tenantId}/users/{userId}/voicemails': {
      parameters: [
        tenantParam,
        { name: 'userId', in: 'path', required: true, schema: { type: 'string' } },
      ],
      get: {
        summary: "Messages in a user's mailbox, newest first",
        responses: {
          '200': {
            description: 'Messages',
            content: json({ type: 'array', items: ref('Voicemail') }),
          },
          ...errors,
        },
      },
    },
    '/v1/tenants/{tenantId}/users/{userId}/voicemails/{messageId}': {
      parameters: [
        tenantParam,
        { name: 'userId', in: 'path', required: true, schema: { type: 'string' } },
        { name: 'messageId', in: 'path', required: true, schema: { type: 'string' } },
      ],
      get: {
        summary: 'The message as a WAV file (streamed)',
        responses: { '200': { description: 'WAV', content: { 'audio/wav': {} } }, ...errors },
      },
      delete: {
        summary: 'Deletes the message',
        responses: { '204': { description: 'Deleted' }, ...errors },
      },
    },
  };
  for (const c of COLLECTIONS) {
    const item = {
      name: 'itemId',
      in: 'path',
      required: true,
      schema: { type: 'string' },
      description: `The item's ${c.key}`,
    };
    paths[`/v1/tenants/{tenantId}/${c.path}`] = {
      parameters: [tenantParam],
      get: {
        summary: `The tenant's ${c.path}`,
        responses: {
          '200': {
            description: 'Items',
            content: json({ type: 'array', items: ref(c.component) }),
          },
          ...errors,
        },
      },
      post: {
        summary: `Adds one of the tenant's ${c.path}`,
        requestBody: { required: true, content: json(ref(c.component)) },
        responses: {
          '201': { description: 'Created', content: json(ref(c.component)) },
          ...bodyErrors,
        },
      },
    };
    paths[`/v1/tenants/{tenantId}/${c.path}/{itemId}`] = {
      parameters: [tenantParam, item],
      get: {
        summary: `One of the tenant's ${c.path}`,
        responses: {
          '200': { description: 'The item', content: json(ref(c.component)) },
          ...errors,
        },
      },
      put: {
        summary: `Replaces one of the tenant's ${c.path}`,
        requestBody: { required: true, content: json(ref(c.component)) },
        responses: {
          '200': { description: 'Replaced', content: json(ref(c.component)) },
          ...bodyErrors,
        },
      },
      delete: {
        summary: `Deletes one of the tenant's ${c.path}`,
        responses: { '204': { description: 'Deleted' }, ...bodyErrors },
      },
    };
  }
  const schemas: Record<string, unknown> = {
    Tenant: plain(Tenant),
    Cdr: plain(CdrSchema),
    Voicemail: plain(VoicemailSchema),
    Error: plain(ErrorSchema),
    TrunkStatus: {
      type: 'object',
      required: ['tenantId', 'trunkId', 'register', 'state'],
      properties: {
        tenantId: { type: 'string' },
        trunkId: { type: 'string' },
        register: { type: 'boolean' },
        state: {
          type: 'string',
          enum: ['disabled', 'registering', 'registered', 'failed', 'misconfigured'],
        },
        registeredUntil: { type: 'string', format: 'date-time' },
        lastError: { type: 'string' },
      },
    },
  };
  for (const c of COLLECTIONS) schemas[c.component] = plain(c.schema);
  return {
    openapi: '3.1.0',
    info: {
      title: 'Voxmesh reference server admin API',
      version: '1.0.0',
      description:
        'Tenants and their PBX configuration, call history, statistics and voicemail. Every /v1 request needs an API key (Authorization: Bearer <key>).',
    },
    servers: [{ url: '/' }],
    security: [{ apiKey: [] }],
    components: {
      securitySchemes: { apiKey: { type: 'http', scheme: 'bearer' } },
      schemas,
    },
    paths,
  };
}
