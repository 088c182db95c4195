import { ContractViolationError } from "@shenguan/contracts";
import { describe, expect, it } from "vitest";
import { checkWebhookUrl, isPublicAddress } from "../src/delivery/egress.js";

describe("webhook egress", () => {
  it("knows public addresses from loopback, private, link-local, CGNAT, documentation and multicast ones, v4 and v6", () => {
    for (const address of ["8.8.8.8", "1.2.3.4", "202.96.128.86", "2001:4860:4860::8888", "::ffff:8.8.8.8"])
      expect(isPublicAddress(address), address).toBe(true);
    for (const address of [
      "127.0.0.1",
      "127.8.9.10",
      "10.0.0.1",
      "172.16.5.4",
      "172.31.255.255",
      "192.168.1.1",
      "169.254.169.254",
      "100.64.0.1",
      "0.0.0.0",
      "224.0.0.1",
      "255.255.255.255",
      "192.0.2.1",
      "::1",
      "::",
      "fe80::1",
      "fd00::1",
      "ff02::1",
      "::ffff:127.0.0.1",
      "::ffff:7f00:1",
      "::ffff:a9fe:a9fe",
      "64:ff9b::10.0.0.1",
      "not-an-address",
    ]) {
      expect(isPublicAddress(address), address).toBe(false);
    }
    expect(isPublicAddress("172.32.0.1")).toBe(true);
  });

  it("refuses at registration what can be judged without DNS, naming body.url and the rule", () => {
    expect(checkWebhookUrl("https://hooks.example.org/shenguan").hostname).toBe("hooks.example.org");
    expect(checkWebhookUrl("http://8.8.8.8:8080/x").port).toBe("8080");
    const refused = (url: string) => {
      try {
        checkWebhookUrl(url);
      } catch (error) {
        expect(error).toBeInstanceOf(ContractViolationError);
        return (error as ContractViolationError).issues[0];
      }
      throw new Error(`${url} was accepted`);
    };
    expect(refused("http://127.0.0.1:9000/")).toMatchObject({
      path: "body.url",
      rule: "webhook-destination",
      message: expect.stringContaining("not a public address"),
    });
    expect(refused("http://[fd12::1]/")).toMatchObject({ message: expect.stringContaining("fd12::1") });
    expect(refused("http://api.localhost/")).toMatchObject({ message: expect.stringContaining("this machine") });
    expect(refused("file:///etc/passwd")).toMatchObject({ message: expect.stringContaining("file:") });
    expect(refused("https://a:b@example.org/")).toMatchObject({ message: expect.stringContaining("credentials") });
    expect(refused("no url")).toMatchObject({ message: expect.stringContaining("not a URL") });
    // Allowed private networks: internal receivers are fine, the rest still holds.
    expect(checkWebhookUrl("http://10.1.2.3/hook", { allowPrivateNetworks: true }).hostname).toBe("10.1.2.3");
    expect(() => checkWebhookUrl("ftp://10.1.2.3/", { allowPrivateNetworks: true })).toThrow(ContractViolationError);
  });
});
