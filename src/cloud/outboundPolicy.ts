/**
 * Outbound policy (issue 10, "Outbound policy"): which addresses the cloud's own requests —
 * webhooks, and the `serverUrl` an app server registers — may reach. A host is resolved with
 * `node:dns` `lookup` (every address, as the resolver gives them) and each address classified
 * with ipaddr.js `range()`; one refused address refuses the host, so a name cannot hide a private
 * address behind a public one. Checked when a URL is registered and again when it is dialled,
 * where the connection goes to the addresses just checked (see `webhookClient.ts`), so a DNS
 * answer that changes in between (rebinding) cannot swap them.
 *
 * Only public unicast addresses pass by default. `loopback` adds 127/8 and ::1 (the development
 * default, since apps run beside the cloud); `private` adds the private ranges as well.
 * Link-local (and the cloud metadata endpoints in it), unspecified, broadcast, multicast and
 * reserved addresses are refused under every policy.
 */
import { lookup as dnsLookup } from 'node:dns/promises';
import ipaddr from 'ipaddr.js';

/** The policies, from the strictest. */
export const OUTBOUND_POLICIES = ['public', 'loopback', 'private'] as const;

/** Which addresses outbound requests may reach; see {@link OUTBOUND_POLICIES}. */
export type OutboundPolicy = (typeof OUTBOUND_POLICIES)[number];

/** What an address is, for the policy and the log. */
export type AddressClass =
  | 'public'
  | 'loopback'
  /** 10/8, 172.16/12, 192.168/16, 100.64/10 (CGNAT), fc00::/7. */
  | 'private'
  /** 169.254/16, fe80::/10. */
  | 'linkLocal'
  /** Cloud instance metadata: 169.254.169.254, fd00:ec2::254. */
  | 'metadata'
  | 'unspecified'
  | 'broadcast'
  | 'multicast'
  /** Documentation, benchmarking, future-use and tunnelling ranges; not a valid IP at all. */
  | 'reserved';

/** One resolved address, as `dns.lookup` gives it with `all: true`. */
export interface ResolvedAddress {
  address: string;
  family: number;
}

/** Resolves a host name to every address (`dns.lookup` with `all: true`); tests inject one. */
export type HostLookup = (hostname: string) => Promise<ResolvedAddress[]>;

/** Outcome of {@link checkOutboundHost}. */
export type OutboundVerdict =
  | { ok: true; addresses: ResolvedAddress[] }
  | { ok: false; reason: 'forbidden'; address: string; addressClass: AddressClass; message: string }
  | { ok: false; reason: 'unresolved'; message: string };

const METADATA = new Set(['169.254.169.254', 'fd00:ec2::254']);

const PRIVATE_RANGES = new Set<string>(['private', 'carrierGradeNat', 'uniqueLocal']);

const SAME_NAMED = new Set<string>(['loopback', 'linkLocal', 'unspecified', 'broadcast', 'multicast']);

const ALLOWED: Record<OutboundPolicy, ReadonlySet<AddressClass>> = {
  public: new Set(['public']),
  loopback: new Set(['public', 'loopback']),
  private: new Set(['public', 'loopback', 'private']),
};

/** The default lookup: `dns.lookup` with every address, in the resolver's order. */
const systemLookup: HostLookup = (hostname) => dnsLookup(hostname, { all: true, verbatim: true });

/**
 * Classifies one IP address. IPv6 addresses that embed an IPv4 one (mapped `::ffff:a.b.c.d`,
 * NAT64 `64:ff9b::/96`, `::ffff:0:a.b.c.d`, 6to4 `2002::/16`) are classified by that address.
 */
export function classifyAddress(address: string): AddressClass {
  let parsed: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    parsed = ipaddr.parse(address.replace(/^\[|\]$/g, '').replace(/%.*$/, ''));
  } catch {
    return 'reserved';
  }
  if (METADATA.has(parsed.toNormalizedString()) || METADATA.has(parsed.toString())) return 'metadata';
  if (parsed.kind() === 'ipv6') {
    const v6 = parsed as ipaddr.IPv6;
    const range = v6.range();
    const bytes = v6.toByteArray();
    if (range === 'ipv4Mapped' || range === 'rfc6145' || range === 'rfc6052') return classifyAddress(bytes.slice(12).join('.'));
    if (range === '6to4') return classifyAddress(bytes.slice(2, 6).join('.'));
  }
  const range: string = parsed.range();
  if (range === 'unicast') return 'public';
  if (PRIVATE_RANGES.has(range)) return 'private';
  if (SAME_NAMED.has(range)) return range as AddressClass;
  return 'reserved';
}

/** Whether `policy` lets outbound requests reach an address of this class. */
export function allows(policy: OutboundPolicy, addressClass: AddressClass): boolean {
  return ALLOWED[policy].has(addressClass);
}

/**
 * Resolves `hostname` (a name or an IP literal, IPv6 with or without brackets) and checks every
 * address against `policy`. Never throws: a name that does not resolve is `unresolved`.
 */
export async function checkOutboundHost(hostname: string, policy: OutboundPolicy, lookup: HostLookup = systemLookup): Promise<OutboundVerdict> {
  const host = hostname.replace(/^\[|\]$/g, '');
  let addresses: ResolvedAddress[];
  if (ipaddr.isValid(host)) {
    addresses = [{ address: host, family: host.includes(':') ? 6 : 4 }];
  } else {
    try {
      addresses = await lookup(host);
    } catch (error) {
      return { ok: false, reason: 'unresolved', message: `${host} does not resolve: ${(error as Error).message}` };
    }
    if (addresses.length === 0) return { ok: false, reason: 'unresolved', message: `${host} does not resolve` };
  }
  for (const { address } of addresses) {
    const addressClass = classifyAddress(address);
    if (!allows(policy, addressClass)) {
      return { ok: false, reason: 'forbidden', address, addressClass, message: `${host} resolves to ${address} (${addressClass}), which the outbound policy "${policy}" refuses` };
    }
  }
  return { ok: true, addresses };
}

const POLICY_TEXT: Record<OutboundPolicy, string> = {
  public: 'public addresses',
  loopback: 'public or loopback addresses',
  private: 'public, loopback or private addresses',
};

/**
 * Checks the host of an http(s) URL (registration time), as {@link checkOutboundHost}; a URL
 * that does not parse is `unresolved`.
 */
export async function checkOutboundUrl(url: string, policy: OutboundPolicy, lookup?: HostLookup): Promise<OutboundVerdict> {
  let host: string;
  try {
    host = new URL(url).hostname;
  } catch {
    return { ok: false, reason: 'unresolved', message: 'not a URL' };
  }
  return checkOutboundHost(host, policy, lookup);
}

/**
 * The text of an `OUTBOUND_FORBIDDEN` refusal of `field`. The same whatever the address was or
 * whether the name resolved, so a refusal tells the caller nothing about the network behind the
 * cloud; the verdict's detail goes to the log.
 */
export function outboundRefusalMessage(field: string, policy: OutboundPolicy): string {
  return `${field}: the host must resolve only to ${POLICY_TEXT[policy]} (outbound policy "${policy}")`;
}

/** Thrown by the webhook transport when a host's addresses are refused; no connection was made. */
export class OutboundForbiddenError extends Error {
  readonly code = 'OUTBOUND_FORBIDDEN';
  constructor(message: string) {
    super(message);
    this.name = 'OutboundForbiddenError';
  }
}
