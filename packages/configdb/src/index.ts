/**
 * `@voxmesh/configdb`: a replicated configuration store on abstract-level
 * with resumable update listeners.
 *
 * - {@link ConfigReplica}: one replica — get/put/del/batch, prefix ranges,
 *   atomic snapshots, gap-free change feeds, multi-master replication.
 * - {@link Collection}: typed, validated records under a key prefix.
 * - {@link ConfigView}: a durable local view for telephony nodes (offline mode).
 * - {@link TcpTransport}: replication between processes, shared-secret authenticated.
 * - {@link ShardMap}, {@link ConfigServer} (HTTP API and discovery endpoint),
 *   {@link RemoteConfigClient}, {@link RoutingClient}: sharding, discovery and routing.
 *
 * @packageDocumentation
 */

export { ConfigDbErrorCode } from './errors.js';
export { ConfigReplica, padSeq } from './replica.js';
export type { ConfigReplicaOptions, ConfigLevel, ReplicaFaults } from './replica.js';
export { HybridLogicalClock, compareHlc, compareStamps } from './hlc.js';
export type { HlcTimestamp, Stamp } from './hlc.js';
export type * from './types.js';
export { Collection } from './collection.js';
export type { CollectionOptions, CollectionChange } from './collection.js';
export { ConfigView } from './view.js';
export type { ConfigViewOptions, ConfigViewEvents } from './view.js';
export { TcpTransport } from './tcp-transport.js';
export type { TcpTransportOptions, TcpTransportTls, TcpAddress, TcpPeer } from './tcp-transport.js';
export { parseReplicationMessage } from './messages.js';
export { ShardMap } from './shard-map.js';
export type { ShardDefinition, ShardMapData } from './shard-map.js';
export { ConfigServer } from './server.js';
export type { ConfigServerOptions } from './server.js';
export { RemoteConfigClient, RoutingClient } from './client.js';
export type { RemoteConfigClientOptions, RoutingClientOptions } from './client.js';
