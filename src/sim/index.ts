/**
 * Public surface of the glasses simulator: one simulated client, and a fleet of them for load
 * tests.
 */
export { SimulatedGlasses, SimulatedGlassesError } from './glassesClient.js';
export type {
  BadFrame,
  CloseOldMode,
  ConnectionAck,
  FramePredicate,
  GlassesCloseEvent,
  GlassesState,
  NetworkSwitchOptions,
  PhoneNotification,
  ReceivedFrame,
  SimulatedGlassesEvents,
  SimulatedGlassesOptions,
  TokenPlacement,
  TranscribeOptions,
  WaitForFrameOptions,
} from './glassesClient.js';
export { startFleet } from './fleet.js';
export type { Fleet, FleetFailure, FleetOptions, FleetTokenSource } from './fleet.js';
