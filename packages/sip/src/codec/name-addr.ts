/**
 * `name-addr` / `addr-spec` values of From, To, Contact, Route, Record-Route,
 * Refer-To and similar headers (RFC 3261 §20.10, §25.1).
 *
 * ```text
 * "Alice Liddell" <sip:alice@atlanta.example.com>;tag=1928301774
 * └─────┬───────┘ └──────────────┬─────────────┘ └─────┬──────┘
 *  display name                 uri             header params
 * ```
 *
 * @module
 */

import { VoxmeshError } from '@voxmesh/core';
import { SipErrorCode } from './errors.js';
import {
  type SipParams,
  allIn,
  charTable,
  formatParams,
  isToken,
  parseParams,
  quote,
} from './grammar.js';
import { type Uri, tryParseUri } from './uri.js';

/** Fields of a {@link NameAddr}. */
export interface NameAddrInit {
  /** The display name, unquoted. */
  displayName?: string | undefined;
  /** The address. */
  uri: Uri;
  /** Header parameters (`tag`, `expires`, `q`, …). @defaultValue `{}` */
  params?: SipParams | undefined;
}

/**
 * A display name, a URI and header parameters.
 *
 * A NameAddr read from a message keeps its URI as text until {@link NameAddr.uri}
 * is first read; a URI that turns out to be malformed then throws
 * `SIP_INVALID_URI` (the structure — quotes, `<…>`, parameters — was checked
 * when the message was parsed).
 */
export class NameAddr {
  displayName: string | undefined;
  params: SipParams;
  #uri: Uri | undefined;
  #uriText: string | undefined;

  constructor(init: NameAddrInit) {
    this.displayName = init.displayName;
    this.#uri = init.uri;
    this.params = init.params ?? {};
  }

  /** @internal A NameAddr whose URI is parsed on first use. */
  static _lazy(displayName: string | undefined, uriText: string, params: SipParams): NameAddr {
    const value = new NameAddr({ displayName, uri: undefined as unknown as Uri, params });
    value.#uriText = uriText;
    return value;
  }

  /** The address. */
  get uri(): Uri {
    if (this.#uri === undefined) {
      const text = this.#uriText ?? '';
      const parsed = tryParseUri(text);
      if (parsed === undefined) {
        throw new VoxmeshError(
          SipErrorCode.SIP_INVALID_URI,
          `Invalid URI: ${JSON.stringify(text)}`,
        );
      }
      this.#uri = parsed;
    }
    return this.#uri;
  }

  set uri(value: Uri) {
    this.#uri = value;
    this.#uriText = undefined;
  }

  /** The URI as text (as received when it has not been parsed or changed). */
  get uriText(): string {
    return this.#uri === undefined ? (this.#uriText ?? '') : this.#uri.toString();
  }

  /** The `tag` parameter (RFC 3261 §19.3), used in From and To. */
  get tag(): string | undefined {
    return this.params.tag ?? undefined;
  }

  set tag(value: string | undefined) {
    if (value === undefined) delete this.params.tag;
    else this.params.tag = value;
  }

  /** A deep copy. */
  clone(): NameAddr {
    if (this.#uri === undefined)
      return NameAddr._lazy(this.displayName, this.#uriText ?? '', { ...this.params });
    return new NameAddr({
      displayName: this.displayName,
      uri: this.#uri.clone(),
      params: { ...this.params },
    });
  }

  /** Always uses the `<…>` form, which is valid for every URI (RFC 3261 §20.10). */
  toString(): string {
    let out = '';
    if (this.displayName !== undefined && this.displayName.length > 0) {
      out += isDisplayTokens(this.displayName)
        ? `${this.displayName} `
        : `${quote(this.displayName)} `;
    }
    return `${out}<${this.uriText}>${formatParams(this.params)}`;
  }
}

function isDisplayTokens(text: string): boolean {
  return text.split(' ').every((word) => word.length > 0 && isToken(word));
}

/** Parses a `name-addr` or `addr-spec` with header parameters, or returns `undefined`. */
export function tryParseNameAddr(text: string): NameAddr | undefined {
  const parsed = scanNameAddr(text);
  if (parsed === undefined) return undefined;
  try {
    return parsed.uri === undefined ? undefined : parsed;
  } catch {
    return undefined;
  }
}

const SCHEME_CHARS = charTable('+-.');

/** Whether `text` looks like an absolute URI: `scheme:` and no whitespace, quotes or angle brackets. */
function plausibleUri(text: string): boolean {
  const colon = text.indexOf(':');
  if (colon <= 0 || colon === text.length - 1 || !allIn(text.slice(0, colon), SCHEME_CHARS))
    return false;
  for (let i = colon + 1; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c <= 0x20 || c === 0x22 || c === 0x3c || c === 0x3e || c === 0x7f) return false;
  }
  return true;
}

/**
 * @internal Parses the structure of a `name-addr` or `addr-spec` and its
 * parameters; the URI itself is parsed on first use.
 */
export function scanNameAddr(text: string): NameAddr | undefined {
  const value = text.trim();
  if (value.length === 0) return undefined;
  let displayName: string | undefined;
  let uriText: string;
  let rest: string;
  const lt = value.indexOf('<');
  if (value.charCodeAt(0) === 0x22) {
    // quoted-string display name (RFC 3261 §25.1)
    let i = 1;
    let escaped = false;
    while (i < value.length && value.charCodeAt(i) !== 0x22) {
      if (value.charCodeAt(i) === 0x5c) {
        escaped = true;
        i++;
      }
      i++;
    }
    if (i >= value.length) return undefined;
    const quoted = value.slice(1, i);
    displayName = escaped ? quoted.replace(/\\([\s\S])/g, '$1') : quoted;
    const after = value.slice(i + 1).trimStart();
    if (after.charCodeAt(0) !== 0x3c) return undefined;
    const gt = after.indexOf('>');
    if (gt < 0) return undefined;
    uriText = after.slice(1, gt);
    rest = after.slice(gt + 1);
  } else if (lt >= 0) {
    const name = value.slice(0, lt).trim();
    if (name.length > 0) {
      // display-name = *(token LWS) (RFC 3261 §25.1)
      const words = name.split(/[ \t]+/);
      if (!words.every(isToken)) return undefined;
      displayName = words.join(' ');
    }
    const gt = value.indexOf('>', lt);
    if (gt < 0) return undefined;
    uriText = value.slice(lt + 1, gt);
    rest = value.slice(gt + 1);
  } else {
    // addr-spec: any ';' belongs to the header, not the URI (RFC 3261 §20.10).
    const semi = value.indexOf(';');
    uriText = (semi < 0 ? value : value.slice(0, semi)).trimEnd();
    rest = semi < 0 ? '' : value.slice(semi);
    if (uriText.includes('?') || uriText.includes(',')) return undefined;
  }
  if (!plausibleUri(uriText)) return undefined;
  const params = parseParams(rest);
  if (params === undefined) return undefined;
  return NameAddr._lazy(displayName, uriText, params);
}

/**
 * Parses a `name-addr` or `addr-spec` with header parameters.
 *
 * @throws VoxmeshError `SIP_INVALID_URI` when the text does not parse.
 */
export function parseNameAddr(text: string): NameAddr {
  const parsed = tryParseNameAddr(text);
  if (parsed === undefined) {
    throw new VoxmeshError(
      SipErrorCode.SIP_INVALID_URI,
      `Invalid name-addr: ${JSON.stringify(text)}`,
    );
  }
  return parsed;
}
