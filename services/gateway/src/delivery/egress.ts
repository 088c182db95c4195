/**
 * Where the gateway may send webhooks. A webhook URL is chosen by a
 * department, and the gateway sits inside the government network beside the
 * database, the services and cloud metadata endpoints: without a check, a
 * registered URL is a request forgery (SSRF) into all of them. So by default
 * deliveries go only to public addresses:
 *
 * - at registration, the URL must be http(s), carry no credentials, and an
 *   IP literal host must be public (a clear 400 naming `body.url`);
 * - at every delivery, the address the host name resolves to is checked
 *   inside the connection itself (undici's connect `lookup`), so a name that
 *   resolves to a public address at registration and to 127.0.0.1 later (DNS
 *   rebinding) is refused at the moment it would connect.
 *
 * `allowPrivateNetworks` lifts the address check for deployments whose
 * receivers live on the internal network (and for local development and tests).
 */
import { lookup as dnsLookup, type LookupAddress } from "node:dns";
import { BlockList, isIP, type LookupFunction } from "node:net";
import { ContractViolationError } from "@shenguan/contracts";
import { Agent } from "undici";

export interface EgressPolicy {
  /** Deliver to loopback, private, link-local and other non-public addresses too (default false). */
  readonly allowPrivateNetworks?: boolean;
}

/** Special-purpose ranges (IANA IPv4/IPv6 registries) that are not the public internet. */
const NOT_PUBLIC = new BlockList();
for (const [network, prefix] of [
  ["0.0.0.0", 8], // "this network"
  ["10.0.0.0", 8],
  ["100.64.0.0", 10], // carrier-grade NAT
  ["127.0.0.0", 8],
  ["169.254.0.0", 16], // link-local, cloud metadata (169.254.169.254)
  ["172.16.0.0", 12],
  ["192.0.0.0", 24],
  ["192.0.2.0", 24], // documentation
  ["192.168.0.0", 16],
  ["198.18.0.0", 15], // benchmarking
  ["198.51.100.0", 24],
  ["203.0.113.0", 24],
  ["224.0.0.0", 4], // multicast
  ["240.0.0.0", 4], // reserved, broadcast
] as const) {
  NOT_PUBLIC.addSubnet(network, prefix, "ipv4");
}
for (const [network, prefix] of [
  ["::", 128],
  ["::1", 128],
  ["64:ff9b:1::", 48], // local-use NAT64
  ["100::", 64], // discard
  ["2001:db8::", 32], // documentation
  ["fc00::", 7], // unique local
  ["fe80::", 10], // link-local
  ["ff00::", 8], // multicast
] as const) {
  NOT_PUBLIC.addSubnet(network, prefix, "ipv6");
}

/** Whether `address` (an IPv4 or IPv6 literal) is a public internet address. IPv4-mapped and NAT64 IPv6 addresses are judged by their IPv4 address. */
export function isPublicAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 0) return false;
  if (family === 4) return !NOT_PUBLIC.check(address, "ipv4");
  const lower = address.toLowerCase();
  const embedded = /^(?:::ffff:|64:ff9b::)(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
  if (embedded) return isPublicAddress(embedded[1]!);
  // ::ffff:7f00:1 and the like: the mapped IPv4 address written in hex.
  const mapped = /^(?:::ffff:|64:ff9b::)([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(lower);
  if (mapped) {
    const hi = parseInt(mapped[1]!, 16);
    const lo = parseInt(mapped[2]!, 16);
    return isPublicAddress(`${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`);
  }
  return !NOT_PUBLIC.check(address, "ipv6");
}

function refuse(message: string): never {
  throw new ContractViolationError("webhook", [{ path: "body.url", rule: "webhook-destination", message }]);
}

/** Checks a webhook URL at registration: the checks that need no DNS (see the module comment). */
export function checkWebhookUrl(raw: string, policy: EgressPolicy = {}): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return refuse(`${JSON.stringify(raw)} is not a URL`);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") refuse(`a webhook is delivered over http or https, not ${url.protocol}`);
  if (url.username !== "" || url.password !== "")
    refuse("a webhook URL must not carry credentials: the receiver checks the x-shenguan-signature HMAC instead");
  const host = url.hostname.replace(/^\[|\]$/g, "");
  if (!policy.allowPrivateNetworks) {
    if (isIP(host) !== 0 && !isPublicAddress(host))
      refuse(`${host} is not a public address: webhooks go to public addresses only (allowPrivateNetworks is off)`);
    if (host === "localhost" || host.endsWith(".localhost"))
      refuse(`${host} is this machine: webhooks go to public addresses only (allowPrivateNetworks is off)`);
  }
  return url;
}

/** The error a delivery records when the destination resolves to an address the policy forbids. */
export class EgressRefusedError extends Error {
  readonly code = "EGRESS_REFUSED";
}

/** dns.lookup, refusing non-public answers: runs inside the connection, so the address checked is the one connected to. */
const publicOnlyLookup: LookupFunction = (hostname, options, callback) => {
  dnsLookup(hostname, { ...options, all: true }, (err, addresses: LookupAddress[]) => {
    if (err) return callback(err, "", 0);
    const refused = addresses.find((a) => !isPublicAddress(a.address));
    if (refused !== undefined) {
      return callback(new EgressRefusedError(`${hostname} resolves to ${refused.address}, not a public address: webhook refused`), "", 0);
    }
    if (options.all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, addresses);
    const first = addresses[0]!;
    callback(null, first.address, first.family);
  });
};

/** The HTTP client webhooks are sent with under `policy`. */
export function egressAgent(policy: EgressPolicy = {}): Agent {
  return new Agent(policy.allowPrivateNetworks ? {} : { connect: { lookup: publicOnlyLookup } });
}

/**
 * Whether the connection's target host, given as an IP literal, may be
 * reached: undici does not call `lookup` for an IP literal, so the delivery
 * checks it itself.
 */
export function literalAllowed(url: URL, policy: EgressPolicy = {}): boolean {
  const host = url.hostname.replace(/^\[|\]$/g, "");
  return policy.allowPrivateNetworks === true || isIP(host) === 0 || isPublicAddress(host);
}
