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
import { type SipParams, formatParams, isToken, parseParams, quote } from './grammar.js';
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

/** A display name, a URI and header parameters. */
export class NameAddr {
  displayName: string | undefined;
  uri: Uri;
  params: SipParams;

  constructor(init: NameAddrInit) {
    this.displayName = init.displayName;
    this.uri = init.uri;
    this.params = init.params ?? {};
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
    return new NameAddr({
      displayName: this.displayName,
      uri: this.uri.clone(),
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
    return `${out}<${this.uri.toString()}>${formatParams(this.params)}`;
  }
}

function isDisplayTokens(text: string): boolean {
  return text.split(' ').every((word) => word.length > 0 && isToken(word));
}

/** Parses a `name-addr` or `addr-spec` with header parameters, or returns `undefined`. */
export function tryParseNameAddr(text: string): NameAddr | undefined {
  const value = text.trim();
  if (value.length === 0) return undefined;
  let displayName: string | undefined;
  let uriText: string;
  let rest: string;
  const lt = value.indexOf('<');
  if (value.charCodeAt(0) === 0x22) {
    // quoted-string display name (RFC 3261 §25.1)
    let i = 1;
    let name = '';
    while (i < value.length && value.charCodeAt(i) !== 0x22) {
      if (value.charCodeAt(i) === 0x5c) i++;
      name += value.charAt(i);
      i++;
    }
    if (i >= value.length) return undefined;
    displayName = name;
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
  const uri = tryParseUri(uriText);
  if (uri === undefined) return undefined;
  const params = parseParams(rest);
  if (params === undefined) return undefined;
  return new NameAddr({ displayName, uri, params });
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
