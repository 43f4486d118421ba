/**
 * Digest secrets of a tenant's users and devices.
 *
 * @module
 */

import type { Tenant } from '@voxmesh/core';
import type { DigestAlgorithm, DigestSecret } from '@voxmesh/sip';

/** The digest secret of a tenant's user or device by SIP user name. */
export function credentialsOf(
  tenant: Tenant,
  username: string,
  algorithm: DigestAlgorithm,
): DigestSecret | undefined {
  const sip =
    tenant.users.find((u) => u.sip.username === username)?.sip ??
    tenant.devices?.find((d) => d.sip?.username === username)?.sip;
  if (sip === undefined) return undefined;
  if (sip.password !== undefined) return { password: sip.password };
  // A stored HA1 serves only the algorithm it was computed with (RFC 7616 §3.4.2).
  const length = algorithm.startsWith('SHA-256') ? 64 : 32;
  if (sip.ha1?.length === length) return { ha1: sip.ha1 };
  return undefined;
}
