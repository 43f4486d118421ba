/**
 * The Voxmesh reference server: a hosted PBX composed of every Voxmesh
 * package. Run it with `npm start` from the repository root.
 */

import { createLogger } from '@voxmesh/core';

const logger = createLogger({ base: { service: 'reference-server' } });

logger.warn(
  'The reference server is not built yet: its SIP, media and admin components land with the reference-server issue. Nothing is listening.',
);
