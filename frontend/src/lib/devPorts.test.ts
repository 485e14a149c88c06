import { describe, expect, it } from "vitest";
import { devPorts } from "./devPorts";

describe("devPorts", () => {
  it("uses the standard ports by default", () => {
    expect(devPorts({})).toEqual({ web: 5173, gateway: 8080 });
  });
  it("adds ATRIUM_PORT_OFFSET to both", () => {
    expect(devPorts({ ATRIUM_PORT_OFFSET: "100" })).toEqual({ web: 5273, gateway: 8180 });
  });
  it("lets each port's own variable win over the offset", () => {
    expect(devPorts({ ATRIUM_PORT_OFFSET: "100", ATRIUM_GATEWAY_PORT: "9000", ATRIUM_WEB_DEV_PORT: "3000" })).toEqual({
      web: 3000,
      gateway: 9000,
    });
  });
  it("treats an empty variable as unset", () => {
    expect(devPorts({ ATRIUM_PORT_OFFSET: "", ATRIUM_GATEWAY_PORT: " " })).toEqual({ web: 5173, gateway: 8080 });
  });
  it("refuses values that are not ports, naming the variable", () => {
    expect(() => devPorts({ ATRIUM_PORT_OFFSET: "ten" })).toThrow("ATRIUM_PORT_OFFSET: want a number, got 'ten'");
    expect(() => devPorts({ ATRIUM_GATEWAY_PORT: "70000" })).toThrow("ATRIUM_GATEWAY_PORT: want 1 to 65535");
    expect(() => devPorts({ ATRIUM_PORT_OFFSET: "60000" })).toThrow("ATRIUM_PORT_OFFSET: want 0 to 50000");
  });
});
