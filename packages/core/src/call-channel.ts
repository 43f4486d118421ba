/**
 * The seam between call logic and the telephony underneath.
 *
 * The IVR runtime, voicemail and any integrator's call logic drive a call
 * through a {@link CallChannel}: answer it, play prompts, collect DTMF,
 * record, bridge it to another destination, transfer it, hang it up. The
 * reference server implements it over a SIP dialog (`@voxmesh/sip`) and a
 * media endpoint (`@voxmesh/media`); the simulated-call harness implements it
 * in memory on a fake clock, so flows are tested without SIP or RTP.
 *
 * Every method takes `{ signal }`. A channel whose call has ended rejects
 * further operations with `INVALID_STATE`; an operation in progress when the
 * call ends (the caller hung up during a prompt) settles with a result whose
 * `reason` is `'hangup'` rather than rejecting, because a hang-up is a normal
 * outcome for call logic, not an error.
 *
 * Implementations feed the caller's DTMF into a `DigitCollector` for
 * {@link CallChannel.collectDigits}, so the gather timing rules are the same
 * on every channel, and run the `callChannelSuite` of `@voxmesh/core/testing`.
 *
 * @module
 */

import type { TypedEvents } from './events.js';
import type { DtmfEvent } from './media-controller.js';

/** The life of a call, in the vocabulary of telephony acceptance tests. */
export type CallState = 'ringing' | 'early' | 'answered' | 'held' | 'ended';

/** One side of a call. */
export interface CallParty {
  /** The user part or number (e.g. `'1001'`, `'+4930123456'`). */
  user: string;
  /** The display name, when presented. */
  displayName?: string | undefined;
  /** The full URI (e.g. `'sip:1001@demo.local'`). */
  uri?: string | undefined;
}

/** Something to play: a stored prompt, a tone, or silence. */
export type PromptSource =
  | {
      /** A prompt by id, resolved by the implementation (tenant prompt store, language). */
      prompt: string;
      /** Overrides the call's language for this prompt. */
      language?: string | undefined;
    }
  | {
      /** A media URL or storage key of an audio file. */
      url: string;
    }
  | {
      /** A pure tone. */
      toneHz: number;
      durationMs: number;
    }
  | {
      /** Silence. */
      silenceMs: number;
    };

/** Which input interrupts a prompt. */
export type BargeIn = 'none' | 'dtmf' | 'any';

/** Options of {@link CallChannel.play}. */
export interface PlayOptions {
  /**
   * Which input stops the prompt early. A digit that barges in is not
   * consumed: it stays queued for the next {@link CallChannel.collectDigits}.
   * @defaultValue `'none'`
   */
  bargeIn?: BargeIn | undefined;
  /**
   * With `bargeIn` `'dtmf'` or `'any'`, only these keys interrupt the prompt
   * (other keys are discarded while it plays).
   * @defaultValue every key
   */
  bargeInKeys?: string | undefined;
  /**
   * Discard digits queued before the prompt starts, so input typed during an
   * earlier prompt never leaks into the next gather. Digits arriving while a
   * prompt without barge-in plays are always discarded.
   * @defaultValue `true`
   */
  flushDigits?: boolean | undefined;
  /**
   * How many times to play the sources (`Infinity` until stopped, e.g. music on hold).
   * @defaultValue `1`
   */
  loop?: number | undefined;
  /** Stops playing (the result's reason is then `'stopped'`). */
  signal?: AbortSignal | undefined;
}

/** How {@link CallChannel.play} ended. */
export interface PlayResult {
  reason: 'finished' | 'barge-in' | 'stopped' | 'hangup';
  /** How long audio played, in milliseconds. */
  playedMs: number;
}

/** Options of {@link CallChannel.collectDigits}; the timing rules follow the gather state machine of the IVR runtime. */
export interface CollectDigitsOptions {
  /**
   * Stop once this many digits were collected.
   * @defaultValue `1`
   */
  maxDigits?: number | undefined;
  /**
   * Fewer digits than this at a timeout count as no input.
   * @defaultValue `1`
   */
  minDigits?: number | undefined;
  /**
   * A key that ends input; it is not included in the result.
   * @defaultValue none
   */
  finishOnKey?: string | undefined;
  /**
   * Time allowed for the first digit, in milliseconds.
   * @defaultValue `5000`
   */
  firstDigitTimeoutMs?: number | undefined;
  /**
   * Time allowed between digits, in milliseconds; once a digit arrived it
   * supersedes the total timeout.
   * @defaultValue `3000`
   */
  interDigitTimeoutMs?: number | undefined;
  /**
   * Overall time allowed for the input, in milliseconds.
   * @defaultValue no limit
   */
  totalTimeoutMs?: number | undefined;
  /** Stops collecting (the result's reason is then `'stopped'`). */
  signal?: AbortSignal | undefined;
}

/** How {@link CallChannel.collectDigits} ended. */
export interface CollectDigitsResult {
  /** The digits collected, without the finish key. */
  digits: string;
  reason: 'max-digits' | 'finish-key' | 'timeout' | 'stopped' | 'hangup';
  /**
   * Digits typed but not returned because they were fewer than `minDigits`
   * when the timeout struck (so call logic can tell no input from too little).
   */
  discarded?: string | undefined;
}

/** Options of {@link CallChannel.record}. */
export interface RecordOptions {
  /**
   * Where the recording is stored (a storage key, resolved per tenant).
   */
  key: string;
  /**
   * Longest recording, in milliseconds.
   * @defaultValue `120000`
   */
  maxDurationMs?: number | undefined;
  /**
   * Stop after this much continuous silence, in milliseconds.
   * @defaultValue no silence detection
   */
  silenceTimeoutMs?: number | undefined;
  /**
   * Keys that end the recording; the key is not recorded.
   * @defaultValue `'#'`
   */
  finishOnKey?: string | undefined;
  /**
   * Play a short tone before recording.
   * @defaultValue `true`
   */
  beep?: boolean | undefined;
  /** Stops recording (the result's reason is then `'stopped'`). */
  signal?: AbortSignal | undefined;
}

/** How {@link CallChannel.record} ended. */
export interface RecordResult {
  /** The storage key the recording was written to. */
  key: string;
  durationMs: number;
  reason: 'max-duration' | 'silence' | 'finish-key' | 'stopped' | 'hangup';
}

/** Where {@link CallChannel.bridge} connects the call. */
export type BridgeTarget =
  | {
      /** An extension or user of the call's tenant. */
      extension: string;
    }
  | {
      /** A ring group of the call's tenant. */
      group: string;
    }
  | {
      /** A number, routed by the tenant's number plan (may leave through a trunk). */
      number: string;
    }
  | {
      /** A SIP URI, dialled as is. */
      uri: string;
    };

/** Options of {@link CallChannel.bridge}. */
export interface BridgeOptions {
  /**
   * How long to ring, in milliseconds, before giving up.
   * @defaultValue `30000`
   */
  timeoutMs?: number | undefined;
  /** The caller ID to present to the called side. */
  callerId?: CallParty | undefined;
  /** Gives up ringing (the result's outcome is then `'stopped'`). */
  signal?: AbortSignal | undefined;
}

/** How {@link CallChannel.bridge} ended. */
export interface BridgeResult {
  /** `'completed'`: the far end answered and the bridged call has since ended. */
  outcome: 'completed' | 'busy' | 'no-answer' | 'failed' | 'stopped' | 'hangup';
  /** The final SIP status of the failed attempt, when there was one. */
  sipStatus?: number | undefined;
  /** How long the two sides talked, in milliseconds. */
  talkMs: number;
}

/** Options of {@link CallChannel.transfer}. */
export interface TransferOptions {
  signal?: AbortSignal | undefined;
}

/** Options of {@link CallChannel.hangup}. */
export interface HangupOptions {
  /**
   * The SIP status for a call not yet answered (ignored once answered).
   * @defaultValue `480`
   */
  sipStatus?: number | undefined;
  /** A reason for logs and call history (sent as a SIP Reason header where supported). */
  reason?: string | undefined;
}

/** Options of {@link CallChannel.answer}. */
export interface AnswerOptions {
  signal?: AbortSignal | undefined;
}

/** Events of a {@link CallChannel}. */
export interface CallChannelEvents {
  /** The call state changed. */
  state: [state: CallState, previous: CallState];
  /** A DTMF digit arrived from the caller. */
  dtmf: [event: DtmfEvent];
  /** The call ended; `by` tells which side ended it. */
  ended: [by: 'local' | 'remote' | 'system', reason: string];
}

/**
 * One call, as call logic sees it. Implemented over SIP + media by the
 * reference server, and in memory by the simulated-call harness.
 */
export interface CallChannel extends TypedEvents<CallChannelEvents> {
  /** Unique id of the call (used in logs and call history). */
  readonly id: string;
  /** The tenant the call belongs to. */
  readonly tenantId: string;
  /** Whether the call came in to the platform or was placed by it. */
  readonly direction: 'inbound' | 'outbound';
  /** The calling party. */
  readonly from: CallParty;
  /** The called party (for an inbound call, the dialled number). */
  readonly to: CallParty;
  /** The current state. */
  readonly state: CallState;
  /** Call variables (set by IVR nodes, visible in call history). */
  readonly variables: Map<string, string>;

  /** Answers the call (no-op if already answered). */
  answer(options?: AnswerOptions): Promise<void>;
  /** Plays one or more sources in order. */
  play(sources: PromptSource | readonly PromptSource[], options?: PlayOptions): Promise<PlayResult>;
  /** Collects DTMF digits under the gather timing rules. */
  collectDigits(options?: CollectDigitsOptions): Promise<CollectDigitsResult>;
  /** Records the caller's audio to storage. */
  record(options: RecordOptions): Promise<RecordResult>;
  /** Connects the call to another destination and resolves when that leg has ended or failed. */
  bridge(target: BridgeTarget, options?: BridgeOptions): Promise<BridgeResult>;
  /** Hands the call to another destination (a blind transfer) and leaves it. */
  transfer(target: BridgeTarget, options?: TransferOptions): Promise<void>;
  /** Ends the call. Hanging up an ended call does nothing. */
  hangup(options?: HangupOptions): Promise<void>;
}
