// A small switch for real-peer tests: one SipTransport on 127.0.0.1 (UDP, TCP
// and WS on ephemeral ports), a UserAgent serving REGISTER through a Registrar
// and INVITE through a B2bua. Callers can be required to authenticate
// (digest, the registrar's authenticator with its throttling); every bridge
// and its outcome is recorded for the test to inspect.
import type { MediaController } from '@voxmesh/core';
import {
  B2bua,
  type B2buaTarget,
  type Bridge,
  type BridgeEnd,
  type BridgeOptions,
  type BridgeOutcome,
  type DigestAlgorithm,
  type RequestContext,
  Registrar,
  SipTransport,
  type TransportProtocol,
  UserAgent,
  tryParseUri,
  SipUri,
} from '@voxmesh/sip';

/** Options of {@link startSwitch}. */
export interface SwitchOptions {
  /** Listeners on 127.0.0.1, ephemeral ports. @defaultValue UDP and TCP */
  protocols?: readonly TransportProtocol[];
  /** Users and passwords of the registrar (and of callers, when `authenticateCallers`). */
  users?: ReadonlyMap<string, string>;
  /** Digest algorithms offered. @defaultValue `['MD5']` (SIPp, sip.js and baresip 1.0 answer MD5) */
  algorithms?: readonly DigestAlgorithm[];
  /** INVITEs must carry valid digest credentials (401 otherwise). @defaultValue false */
  authenticateCallers?: boolean;
  /** Where an INVITE goes; `undefined` → the registered contacts of the Request-URI's AOR. */
  route?: (ctx: RequestContext) => B2buaTarget[] | undefined;
  /** Options of every bridge besides the call and targets. */
  bridge?: Omit<BridgeOptions, 'call' | 'targets'>;
  /** Media anchoring. @defaultValue none (SDP passed through) */
  media?: MediaController;
}

/** A bridge the switch made, with its outcome and end once known. */
export interface SwitchBridge {
  bridge: Bridge;
  targets: B2buaTarget[];
  outcome: Promise<BridgeOutcome>;
  ended: Promise<BridgeEnd>;
}

/** A running switch. */
export interface Switch {
  readonly transport: SipTransport;
  readonly ua: UserAgent;
  readonly b2bua: B2bua;
  readonly registrar: Registrar;
  readonly bridges: SwitchBridge[];
  /** INVITEs refused before any bridge (status each). */
  readonly refused: number[];
  port(protocol: TransportProtocol): number;
  /** Resolves with the `n`-th bridge (1-based) once it exists (bounded by `timeoutMs`). */
  nthBridge(n: number, timeoutMs?: number): Promise<SwitchBridge>;
  stop(): Promise<void>;
}

/** The AOR of a Request-URI (`sip:user@host`, no port or parameters). */
function aorOf(uri: string): string | undefined {
  const parsed = tryParseUri(uri);
  if (!(parsed instanceof SipUri) || parsed.user === undefined) return undefined;
  return `sip:${parsed.user}@${parsed.host}`;
}

/** Starts a switch; stop it in afterAll/afterEach. */
export async function startSwitch(options: SwitchOptions = {}): Promise<Switch> {
  const protocols = options.protocols ?? ['UDP', 'TCP'];
  const users = options.users ?? new Map<string, string>();
  const transport = new SipTransport({
    listeners: protocols.map((protocol) => ({ protocol, host: '127.0.0.1', port: 0 })),
  });
  await transport.start();
  const port = (protocol: TransportProtocol): number => {
    const listener = transport.listener(protocol);
    if (listener === undefined) throw new Error(`the switch has no ${protocol} listener`);
    return listener.local.port;
  };
  const registrar = new Registrar({
    credentials: ({ username }) => {
      const password = users.get(username);
      return password === undefined ? undefined : { password };
    },
    // Every phone registers at the switch's address: one domain, one realm.
    realm: () => '127.0.0.1',
    minExpiresS: 60,
    digestAlgorithms: options.algorithms ?? ['MD5'],
  });
  const ua = new UserAgent({
    transport,
    uri: `sip:switch@127.0.0.1:${port(protocols[0] ?? 'UDP')}`,
    sessionTimer: false,
  });
  const b2bua = new B2bua({ ua, media: options.media });
  const bridges: SwitchBridge[] = [];
  const refused: number[] = [];
  const waiters: (() => void)[] = [];

  ua.use({ method: 'REGISTER', handler: registrar.middleware() });
  ua.use({
    method: 'INVITE',
    handler: async (ctx) => {
      const { call, request, flow } = ctx;
      if (call === undefined) return;
      if (options.authenticateCallers === true) {
        const authenticator = registrar.authenticator!;
        const result = await authenticator.verify({
          realm: '127.0.0.1',
          method: 'INVITE',
          requestUri: request.uri.toString(),
          authorization: request.headers.getAll('authorization'),
          source: flow.remote.host,
        });
        if (!result.ok) {
          // RFC 3261 §22.3: a UAS challenges with 401; refused sources get 403.
          refused.push(result.status);
          const headers: [string, string][] = result.challenges.map((c) => [result.headerName, c]);
          if (result.retryAfterS !== undefined) {
            headers.push(['Retry-After', String(result.retryAfterS)]);
          }
          call.reject({ status: result.status, headers });
          return;
        }
      }
      let targets = options.route?.(ctx);
      if (targets === undefined) {
        const aor = aorOf(request.uri.toString());
        const routes = aor === undefined ? [] : await registrar.lookup(aor);
        targets = routes.map((route) => ({
          uri: route.uri,
          next: { ...route.target, flowId: route.flowId },
          label: route.binding.aor,
        }));
      }
      if (targets.length === 0) {
        refused.push(404);
        call.reject({ status: 404 });
        return;
      }
      const bridge = b2bua.bridge({ ...options.bridge, call, targets });
      const ended = new Promise<BridgeEnd>((resolve) => {
        if (bridge.end !== undefined) resolve(bridge.end);
        else bridge.once('ended', resolve);
      });
      bridges.push({ bridge, targets, outcome: bridge.result, ended });
      for (const wake of waiters.splice(0)) wake();
    },
  });
  await registrar.start();
  await ua.start();
  await b2bua.start();
  return {
    transport,
    ua,
    b2bua,
    registrar,
    bridges,
    refused,
    port,
    async nthBridge(n, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      while (bridges.length < n) {
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`bridge ${n} did not happen (${bridges.length} so far)`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, left);
          waiters.push(() => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
      return bridges[n - 1]!;
    },
    async stop() {
      await b2bua.stop();
      await ua.stop();
      await registrar.stop();
      await transport.stop();
    },
  };
}
