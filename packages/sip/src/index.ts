/**
 * `@voxmesh/sip`: signalling: an RFC 3261 SIP stack, registrar, B2BUA engine and trunks.
 *
 * This package is being built; its first API lands with its issue.
 *
 * @packageDocumentation
 */

export {};
