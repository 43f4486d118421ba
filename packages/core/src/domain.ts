/**
 * The tenant domain model, defined once as TypeBox JSON Schema: the types,
 * validation and the admin API's OpenAPI all come from these schemas.
 *
 * A {@link Tenant} holds its whole PBX configuration: users (extensions with
 * SIP credentials), devices, ring groups, DIDs, trunks and outbound routes,
 * IVR flows, business-hours schedules with holidays, a blacklist, forwarding
 * rules, emergency numbers and caller-ID presentation. Tenants form a
 * hierarchy: a parent manages its children's users and limits, and a child's
 * limits never exceed its parent's.
 *
 * @module
 */

import { Type, type Static } from '@sinclair/typebox';
import { IvrFlow } from './ivr-flow.js';
import { Schedule } from './schedule.js';

/** An identifier: letters, digits, `.`, `_`, `-`. */
export const Id = Type.String({
  minLength: 1,
  maxLength: 128,
  pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$',
  description: 'An identifier',
});

/** An internal extension number (2–8 digits). */
export const ExtensionNumber = Type.String({
  pattern: '^[0-9]{2,8}$',
  description: 'An internal extension, 2 to 8 digits',
});

/** A dialable number: an optional `+`, then digits, `*` and `#`. */
export const PhoneNumber = Type.String({
  pattern: '^\\+?[0-9*#]{1,32}$',
  description: 'A dialable number (E.164 with +, national, or a short code)',
});

/** Where a call goes: the targets DIDs, forwarding rules and fallbacks name. */
export const Destination = Type.Union(
  [
    Type.Object(
      { type: Type.Literal('extension'), extension: ExtensionNumber },
      { additionalProperties: false },
    ),
    Type.Object({ type: Type.Literal('ring-group'), groupId: Id }, { additionalProperties: false }),
    Type.Object({ type: Type.Literal('ivr'), flowId: Id }, { additionalProperties: false }),
    Type.Object(
      { type: Type.Literal('voicemail'), extension: ExtensionNumber },
      { additionalProperties: false },
    ),
    Type.Object(
      { type: Type.Literal('number'), number: PhoneNumber },
      { additionalProperties: false },
    ),
    Type.Object({ type: Type.Literal('hangup') }, { additionalProperties: false }),
  ],
  { description: 'Where a call goes' },
);
/** Where a call goes. */
export type Destination = Static<typeof Destination>;

/**
 * How the caller is presented to the called side.
 * - `user`: the calling user's own caller ID (falls back to the tenant's main number);
 * - `tenant`: the tenant's main number;
 * - `fixed`: `number` (and `displayName`);
 * - `anonymous`: withheld (RFC 3323 privacy);
 * - `passthrough`: the original caller's number, unchanged (forwarded calls).
 */
export const CallerIdPresentation = Type.Object(
  {
    mode: Type.Union([
      Type.Literal('user'),
      Type.Literal('tenant'),
      Type.Literal('fixed'),
      Type.Literal('anonymous'),
      Type.Literal('passthrough'),
    ]),
    number: Type.Optional(PhoneNumber),
    displayName: Type.Optional(Type.String({ maxLength: 100 })),
  },
  { additionalProperties: false },
);
/** How the caller is presented. */
export type CallerIdPresentation = Static<typeof CallerIdPresentation>;

/** SIP digest credentials: a password, or its precomputed HA1 (RFC 7616 §3.4.2). */
export const SipCredentials = Type.Object(
  {
    username: Type.String({ minLength: 1, maxLength: 128, pattern: '^[^\\s:@]+$' }),
    password: Type.Optional(Type.String({ minLength: 8, maxLength: 256 })),
    ha1: Type.Optional(Type.String({ pattern: '^[0-9a-f]{32}$|^[0-9a-f]{64}$' })),
  },
  { additionalProperties: false },
);
/** SIP digest credentials. */
export type SipCredentials = Static<typeof SipCredentials>;

/** Call forwarding of a user. */
export const ForwardingRules = Type.Object(
  {
    /** Forward every call, without ringing the user. */
    always: Type.Optional(Destination),
    /** Forward when the user is busy. */
    busy: Type.Optional(Destination),
    /** Forward when the user does not answer within `afterSeconds`. */
    noAnswer: Type.Optional(
      Type.Object(
        {
          destination: Destination,
          /** @defaultValue `20` */
          afterSeconds: Type.Optional(Type.Integer({ minimum: 5, maximum: 300 })),
        },
        { additionalProperties: false },
      ),
    ),
    /** Forward when no device of the user is registered. */
    unavailable: Type.Optional(Destination),
  },
  { additionalProperties: false },
);
/** Call forwarding of a user. */
export type ForwardingRules = Static<typeof ForwardingRules>;

/** A user with an extension. */
export const User = Type.Object(
  {
    id: Id,
    extension: ExtensionNumber,
    displayName: Type.String({ minLength: 1, maxLength: 100 }),
    email: Type.Optional(Type.String({ pattern: '^[^\\s@]+@[^\\s@]+$' })),
    /** Credentials for REGISTER and calls from the user's devices. */
    sip: SipCredentials,
    /** The prompt language. @defaultValue the tenant's */
    language: Type.Optional(Type.String({ pattern: '^[a-z]{2}(-[A-Z]{2})?$' })),
    /** The caller ID presented on external calls (`presentation: user`). */
    callerId: Type.Optional(
      Type.Object(
        { number: PhoneNumber, displayName: Type.Optional(Type.String({ maxLength: 100 })) },
        { additionalProperties: false },
      ),
    ),
    /** The number sent with emergency calls (identifies the location). */
    emergencyCallerId: Type.Optional(PhoneNumber),
    voicemail: Type.Optional(
      Type.Object(
        {
          enabled: Type.Boolean(),
          pin: Type.Optional(Type.String({ pattern: '^[0-9]{4,12}$' })),
          /** Send new messages to this address. */
          email: Type.Optional(Type.String({ pattern: '^[^\\s@]+@[^\\s@]+$' })),
        },
        { additionalProperties: false },
      ),
    ),
    forwarding: Type.Optional(ForwardingRules),
    /** Do not disturb: calls are treated as busy. @defaultValue `false` */
    dnd: Type.Optional(Type.Boolean()),
    /** How long the user's devices ring. @defaultValue `30` */
    ringSeconds: Type.Optional(Type.Integer({ minimum: 5, maximum: 300 })),
    /** Which external numbers the user may call. @defaultValue `'international'` */
    outboundClass: Type.Optional(
      Type.Union([
        Type.Literal('internal'),
        Type.Literal('national'),
        Type.Literal('international'),
      ]),
    ),
  },
  { additionalProperties: false },
);
/** A user with an extension. */
export type User = Static<typeof User>;

/** A phone, softphone or browser of a user. */
export const Device = Type.Object(
  {
    id: Id,
    userId: Id,
    kind: Type.Union([
      Type.Literal('desk-phone'),
      Type.Literal('softphone'),
      Type.Literal('webrtc'),
      Type.Literal('mobile'),
    ]),
    name: Type.Optional(Type.String({ maxLength: 100 })),
    /** Hardware address, for provisioning. */
    mac: Type.Optional(Type.String({ pattern: '^[0-9a-f]{2}(:[0-9a-f]{2}){5}$' })),
    /** Device-specific credentials; the user's when omitted. */
    sip: Type.Optional(SipCredentials),
  },
  { additionalProperties: false },
);
/** A device of a user. */
export type Device = Static<typeof Device>;

/** A ring group: members rung at once or one after another. */
export const RingGroup = Type.Object(
  {
    id: Id,
    name: Type.Optional(Type.String({ maxLength: 100 })),
    /** The number that dials the group. */
    extension: Type.Optional(ExtensionNumber),
    strategy: Type.Union([Type.Literal('simultaneous'), Type.Literal('sequential')]),
    members: Type.Array(ExtensionNumber, { minItems: 1 }),
    /** For `sequential`, how long each member rings. @defaultValue `15` */
    memberSeconds: Type.Optional(Type.Integer({ minimum: 5, maximum: 300 })),
    /** For `simultaneous`, how long all ring. @defaultValue `30` */
    timeoutSeconds: Type.Optional(Type.Integer({ minimum: 5, maximum: 600 })),
    /** Where an unanswered call goes. @defaultValue hang up */
    fallback: Type.Optional(Destination),
  },
  { additionalProperties: false },
);
/** A ring group. */
export type RingGroup = Static<typeof RingGroup>;

/** An inbound number (DID) and where it goes, optionally by schedule. */
export const Did = Type.Object(
  {
    /** The number as the trunk delivers it (E.164 with `+` recommended). */
    number: PhoneNumber,
    destination: Destination,
    /** Route by business hours. */
    schedule: Type.Optional(
      Type.Object(
        {
          scheduleId: Id,
          /** Where calls go while closed. */
          closed: Destination,
          /** Where calls go on holidays. @defaultValue `closed` */
          holiday: Type.Optional(Destination),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
/** An inbound number. */
export type Did = Static<typeof Did>;

/** An external SIP gateway (carrier). */
export const Trunk = Type.Object(
  {
    id: Id,
    host: Type.String({ minLength: 1, maxLength: 253 }),
    port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),
    /** @defaultValue `'udp'` */
    transport: Type.Optional(
      Type.Union([Type.Literal('udp'), Type.Literal('tcp'), Type.Literal('tls')]),
    ),
    /** Credentials for the gateway's digest challenge. */
    auth: Type.Optional(SipCredentials),
    /** Concurrent calls the carrier allows. @defaultValue no limit */
    maxChannels: Type.Optional(Type.Integer({ minimum: 1 })),
    /**
     * Register with the carrier (RFC 3261 §10.2), with `auth` as the account:
     * for carriers that deliver inbound calls only to a registered contact.
     * @defaultValue `false`
     */
    register: Type.Optional(Type.Boolean()),
    /** The registration lifetime asked for, in seconds. @defaultValue `3600` */
    registerExpiresS: Type.Optional(Type.Integer({ minimum: 60, maximum: 86_400 })),
  },
  { additionalProperties: false },
);
/** An external SIP gateway. */
export type Trunk = Static<typeof Trunk>;

/** An outbound rule: numbers it matches, how they are rewritten, which trunks carry them. */
export const OutboundRoute = Type.Object(
  {
    id: Id,
    /** Dialled-number prefixes the route matches (the longest match wins). */
    prefixes: Type.Array(Type.String({ pattern: '^\\+?[0-9*#]*$' }), { minItems: 1 }),
    /** @defaultValue `1` */
    minLength: Type.Optional(Type.Integer({ minimum: 1 })),
    /** @defaultValue `32` */
    maxLength: Type.Optional(Type.Integer({ minimum: 1 })),
    /** Digits removed from the front. @defaultValue `0` */
    strip: Type.Optional(Type.Integer({ minimum: 0 })),
    /** Digits added to the front after stripping. @defaultValue `''` */
    prepend: Type.Optional(Type.String({ pattern: '^\\+?[0-9]*$' })),
    /** Trunks in failover order. */
    trunkIds: Type.Array(Id, { minItems: 1 }),
    /** Caller ID on this route. @defaultValue `{ mode: 'user' }` */
    presentation: Type.Optional(CallerIdPresentation),
    /** The class a user needs to use the route. @defaultValue `'national'` */
    class: Type.Optional(Type.Union([Type.Literal('national'), Type.Literal('international')])),
  },
  { additionalProperties: false },
);
/** An outbound rule. */
export type OutboundRoute = Static<typeof OutboundRoute>;

/** A blocked caller: an exact number, or a prefix ending in `*`. */
export const BlacklistEntry = Type.Object(
  {
    number: Type.String({ pattern: '^\\+?[0-9]*\\*?$', minLength: 1 }),
    reason: Type.Optional(Type.String({ maxLength: 200 })),
  },
  { additionalProperties: false },
);
/** A blocked caller. */
export type BlacklistEntry = Static<typeof BlacklistEntry>;

/** Emergency numbers: always routed, never blocked by any rule or limit. */
export const EmergencySettings = Type.Object(
  {
    /** @defaultValue `['112', '911']` */
    numbers: Type.Optional(Type.Array(Type.String({ pattern: '^[0-9]{2,6}$' }))),
    /** Trunks in failover order. */
    trunkIds: Type.Array(Id, { minItems: 1 }),
  },
  { additionalProperties: false },
);
/** Emergency numbers. */
export type EmergencySettings = Static<typeof EmergencySettings>;

/**
 * Calls between tenants. A call from tenant 1 to tenant 2 is routed only when
 * tenant 1 allows outbound, tenant 2 allows inbound, and tenant 1 configures
 * how its callers are presented in tenant 2.
 */
export const InterTenantPolicy = Type.Object(
  {
    /** `true` for any tenant, or the ids of the tenants that may be called. @defaultValue `false` */
    outbound: Type.Optional(Type.Union([Type.Boolean(), Type.Array(Id)])),
    /** `true` for any tenant, or the ids of the tenants that may call in. @defaultValue `false` */
    inbound: Type.Optional(Type.Union([Type.Boolean(), Type.Array(Id)])),
    /** How this tenant's callers appear in the other tenant: `prefix` + their extension. */
    presentation: Type.Optional(
      Type.Object(
        {
          prefix: Type.String({ pattern: '^[0-9*#+]*$' }),
          displayName: Type.Optional(Type.String({ maxLength: 100 })),
        },
        { additionalProperties: false },
      ),
    ),
    /** Dial prefixes that reach another tenant: dialling `prefix` + extension. */
    routes: Type.Optional(
      Type.Array(
        Type.Object(
          { prefix: Type.String({ pattern: '^[0-9*#]+$' }), tenantId: Id },
          { additionalProperties: false },
        ),
      ),
    ),
  },
  { additionalProperties: false },
);
/** Calls between tenants. */
export type InterTenantPolicy = Static<typeof InterTenantPolicy>;

/** Limits a parent sets on a tenant. */
export const TenantLimits = Type.Object(
  {
    maxUsers: Type.Optional(Type.Integer({ minimum: 0 })),
    maxConcurrentCalls: Type.Optional(Type.Integer({ minimum: 0 })),
    maxChildren: Type.Optional(Type.Integer({ minimum: 0 })),
  },
  { additionalProperties: false },
);
/** Limits a parent sets on a tenant. */
export type TenantLimits = Static<typeof TenantLimits>;

/** A tenant and its whole PBX configuration. */
export const Tenant = Type.Object(
  {
    id: Id,
    /** The managing tenant (a reseller, a head office). */
    parentId: Type.Optional(Id),
    name: Type.String({ minLength: 1, maxLength: 200 }),
    /** The SIP domain that identifies the tenant. */
    domain: Type.String({
      pattern: '^(?=.{1,253}$)[a-z0-9]([a-z0-9-]*[a-z0-9])?(\\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$',
    }),
    /** An IANA time zone (e.g. `Europe/Berlin`). */
    timeZone: Type.String({ minLength: 1 }),
    /** @defaultValue `'en'` */
    language: Type.Optional(Type.String({ pattern: '^[a-z]{2}(-[A-Z]{2})?$' })),
    /** The tenant's main number (caller ID for `presentation: tenant`). */
    mainNumber: Type.Optional(PhoneNumber),
    limits: Type.Optional(TenantLimits),
    /** Reject calls whose caller withholds their number (SIP 433, RFC 5079). @defaultValue `false` */
    rejectAnonymous: Type.Optional(Type.Boolean()),
    /** @defaultValue `{ voicemail: '*97' }` (`*97` own mailbox, `*97` + extension another's) */
    featureCodes: Type.Optional(
      Type.Object(
        { voicemail: Type.Optional(Type.String({ pattern: '^[*#0-9]{2,6}$' })) },
        { additionalProperties: false },
      ),
    ),
    /** The prefix for external numbers from phones (e.g. `'0'`), stripped before outbound routes. */
    externalPrefix: Type.Optional(Type.String({ pattern: '^[0-9]{0,3}$' })),
    /** National prefix for classifying numbers (`0` in most of Europe). @defaultValue `'0'` */
    nationalPrefix: Type.Optional(Type.String({ pattern: '^[0-9]{0,3}$' })),
    /** International prefix (`00` in most of Europe). @defaultValue `'00'` */
    internationalPrefix: Type.Optional(Type.String({ pattern: '^[0-9]{0,4}$' })),
    users: Type.Array(User),
    devices: Type.Optional(Type.Array(Device)),
    ringGroups: Type.Optional(Type.Array(RingGroup)),
    dids: Type.Optional(Type.Array(Did)),
    trunks: Type.Optional(Type.Array(Trunk)),
    outboundRoutes: Type.Optional(Type.Array(OutboundRoute)),
    flows: Type.Optional(Type.Array(IvrFlow)),
    schedules: Type.Optional(Type.Array(Schedule)),
    blacklist: Type.Optional(Type.Array(BlacklistEntry)),
    emergency: Type.Optional(EmergencySettings),
    interTenant: Type.Optional(InterTenantPolicy),
  },
  { additionalProperties: false, $id: 'Tenant' },
);
/** A tenant and its whole PBX configuration. */
export type Tenant = Static<typeof Tenant>;
