import { PluginError } from '@plugward/types';

/**
 * Why a channel failed, in `PluginError.details.reason` of every `IpcError` this package raises. Stable: hosts match
 * on it (for instance to tell a crashed plugin, `PeerClosed`, from a hostile one, `FrameTooLarge`).
 */
export type IpcFailureReason =
  /** A length prefix above the channel's `maxFrameBytes` (checked before allocating). */
  | 'FrameTooLarge'
  /** A length prefix smaller than the frame header. */
  | 'MalformedFrame'
  /** The stream ended in the middle of a frame. */
  | 'TruncatedFrame'
  /** A frame was started and not completed within `stallTimeoutMs`. */
  | 'StalledFrame'
  /** The frame type byte is not request, response or cancel. */
  | 'UnknownFrameType'
  /** The message kind byte is not a known request or response kind. */
  | 'UnknownKind'
  /** A known request kind that this side does not accept (a plugin asking the host to `Initialize`). */
  | 'UnexpectedKind'
  /** The payload does not decode, has wrong field types, extra bytes, or forbidden keys such as `__proto__`. */
  | 'MalformedPayload'
  /** A response to a request id that is not pending. */
  | 'UnknownRequestId'
  /** A request whose id is already being served. */
  | 'DuplicateRequestId'
  /** Too many requests of the peer in flight at once. */
  | 'TooManyRequests'
  /** The peer keeps sending requests without reading the answers (more than `maxQueuedBytes` of them wait). */
  | 'PeerNotReading'
  /** The peer closed its end. */
  | 'PeerClosed'
  /** The stream reported an error. */
  | 'StreamError'
  /** This side closed the channel. */
  | 'ChannelClosed'
  /** A message is too large to send, or too many requests are pending locally. */
  | 'SendRefused'
  /**
   * A worker's port carried more than an honest writer may have in flight without credit (code posting on the port
   * itself): the port's queue would grow in the reader's memory.
   */
  | 'WindowExceeded'
  /**
   * Frames keep arriving in more pieces than their size explains (past one per KiB of a frame plus one, 256 such extra
   * pieces at once and 64 a second): a peer writing its frames a few bytes at a time, which costs the reader a wake-up
   * and a read per piece, at the peer's pace.
   */
  | 'FragmentedFrame';

/** Makes the `IpcError` of `reason`. */
export function ipcError(reason: IpcFailureReason, message: string, cause?: unknown): PluginError {
  return new PluginError('IpcError', message, {
    details: { reason },
    ...(cause === undefined ? {} : { cause }),
  });
}

/** The {@link IpcFailureReason} of an error raised by this package, if it is one. */
export function ipcFailureReason(error: unknown): IpcFailureReason | undefined {
  if (!(error instanceof PluginError) || error.code !== 'IpcError') return undefined;
  const reason = error.details?.reason;
  return typeof reason === 'string' ? (reason as IpcFailureReason) : undefined;
}
