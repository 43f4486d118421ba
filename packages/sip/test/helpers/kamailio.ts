// Kamailio 5.6 as the reference stateful proxy of the sip-cps benchmark: tm +
// sl + rr + maxfwd, Record-Route on INVITE so that it stays in every dialog,
// in-dialog requests with a route set loose-routed, every other request
// relayed to one next hop. Runs in the foreground (-DD -E) so
// the harness owns the process.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Peer, freePort, requireBinary, startPeer, waitForBound } from './peers.js';

export const KAMAILIO = '/usr/sbin/kamailio';
const MODULES = '/usr/lib/x86_64-linux-gnu/kamailio/modules/';

/** Options of {@link startKamailio}. */
export interface KamailioOptions {
  /** Where every request is relayed (the uas). */
  next: { host: string; port: number };
  /** Its UDP port on 127.0.0.1. @defaultValue a free port */
  port?: number;
  /** Worker processes for UDP. @defaultValue 2 (one per core here) */
  children?: number;
  /** Shared memory, MB (transactions live here). @defaultValue 512 */
  sharedMb?: number;
  /** Private memory per process, MB. @defaultValue 16 */
  privateMb?: number;
}

/** A running kamailio. */
export interface Kamailio {
  readonly port: number;
  readonly peer: Peer;
  stop(): Promise<void>;
}

/** The configuration: a minimal transaction-stateful relay (RFC 3261 §16). */
export function kamailioConfig(options: {
  port: number;
  next: { host: string; port: number };
  children: number;
}): string {
  const next = `sip:${options.next.host}:${options.next.port}`;
  return `#!KAMAILIO
debug=1
log_stderror=yes
children=${options.children}
auto_aliases=no
listen=udp:127.0.0.1:${options.port}
disable_tcp=yes
dns=no
rev_dns=no
use_dns_cache=no
mpath="${MODULES}"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "maxfwd.so"
loadmodule "pv.so"
loadmodule "textops.so"

request_route {
  if (!mf_process_maxfwd_header("10")) {
    sl_send_reply("483", "Too Many Hops");
    exit;
  }
  if (is_method("INVITE")) record_route();
  # In-dialog requests that name their route go where it says (RFC 3261 §16.4).
  if (loose_route()) {
    if (!t_relay()) sl_reply_error();
    exit;
  }
  $du = "${next}";
  if (is_method("ACK") && !t_check_trans()) {
    forward();
    exit;
  }
  if (!t_relay()) sl_reply_error();
}
`;
}

/** Starts kamailio in the foreground relaying to `next`; resolves once it listens. */
export async function startKamailio(options: KamailioOptions): Promise<Kamailio> {
  requireBinary(KAMAILIO, ['-v']);
  const dir = await mkdtemp(join(tmpdir(), 'voxmesh-kamailio-'));
  const port = options.port ?? (await freePort());
  const config = join(dir, 'kamailio.cfg');
  await writeFile(
    config,
    kamailioConfig({ port, next: options.next, children: options.children ?? 2 }),
  );
  const peer = startPeer(
    KAMAILIO,
    [
      '-f',
      config,
      '-DD',
      '-E',
      '-m',
      String(options.sharedMb ?? 512),
      '-M',
      String(options.privateMb ?? 16),
      '-Y',
      dir,
      '-P',
      join(dir, 'kamailio.pid'),
    ],
    { cwd: dir },
  );
  try {
    await waitForBound('UDP', port, { exited: peer.exited });
  } catch (error) {
    await peer.stop();
    await rm(dir, { recursive: true, force: true });
    throw new Error(`kamailio did not start: ${String(error)}\n${peer.output()}`, {
      cause: error,
    });
  }
  return {
    port,
    peer,
    async stop() {
      await peer.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
