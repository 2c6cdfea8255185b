import { describe, expect, it } from "vitest";
import type { Schemas } from "../api/client";
import { match } from "../router";
import { queueOrder, stepPriority } from "./Engraving";
import { machineRequest } from "./Settings";
import { emptyForm, generateRequest, previewRequest, styleQuery } from "./Generate";

describe("generate form", () => {
  it("sends what the user typed, normalised, and asks for the items as JSON", () => {
    const body = generateRequest({ ...emptyForm, component_type: " pad ", vendor_code: "v0100", lot_number: " L2025-09 ", count: "24", warranty_years: "", ec_level: "Q" });
    expect(body).toMatchObject({
      component_type: "PAD",
      vendor_code: "V0100",
      lot_number: "L2025-09",
      count: 24,
      warranty_years: undefined,
      format: "json",
      payload: "uid",
      style: { ec_level: "Q", module_px: 10, sheet: "a4-24" },
    });
  });

  it("leaves a non-number for the server to name, rather than sending 0", () => {
    expect(generateRequest({ ...emptyForm, count: "many" }).count).toBeNaN();
  });
});

describe("style preview", () => {
  it("asks the item image for the form's error correction and module size", () => {
    expect(styleQuery({ ...emptyForm, ec_level: "H", module_px: "6" })).toBe("ec_level=H&module_px=6");
    expect(styleQuery({ ...emptyForm, ec_level: "Q", module_px: "" })).toBe("ec_level=Q");
  });
});

describe("generate preview", () => {
  it("draws a sample lot until the lot is typed, with the form's payload and style", () => {
    const body = previewRequest({ ...emptyForm, payload: "url", foreground: " #112233 ", invert: true, count: "" });
    expect(body).toMatchObject({ component_type: "PAD", vendor_code: "V0100", lot_number: "L2025-09", payload: "url", count: 1 });
    expect(body.style).toMatchObject({ foreground: "#112233", invert: true });
    expect(previewRequest({ ...emptyForm, component_type: "bolt", lot_number: "L7" })).toMatchObject({ component_type: "BOLT", vendor_code: "V0100", lot_number: "L7" });
  });
});

describe("engraving queue", () => {
  const job = (id: string, status: string, priority: string, created_at: string) => ({ id, status, priority, created_at }) as Schemas["Job"];
  it("shows running jobs first, then by priority, then the oldest first", () => {
    const jobs = [
      job("a", "queued", "low", "2026-01-01T00:00:00Z"),
      job("b", "queued", "urgent", "2026-01-03T00:00:00Z"),
      job("c", "running", "low", "2026-01-05T00:00:00Z"),
      job("d", "queued", "urgent", "2026-01-02T00:00:00Z"),
      job("e", "queued", "normal", "2026-01-01T00:00:00Z"),
    ];
    expect(jobs.sort(queueOrder).map((j) => j.id)).toEqual(["c", "d", "b", "e", "a"]);
  });
  it("raises and lowers a priority one step, not past urgent or low", () => {
    expect(stepPriority("normal", -1)).toBe("high");
    expect(stepPriority("high", -1)).toBe("urgent");
    expect(stepPriority("urgent", -1)).toBeNull();
    expect(stepPriority("normal", 1)).toBe("low");
    expect(stepPriority("low", 1)).toBeNull();
  });
});

describe("machine form", () => {
  it("leaves the work area to the controller unless one is typed", () => {
    expect(machineRequest({ name: " laser-2 ", address: " tcp://10.0.0.9:23 ", width: "", height: "", has_z: false })).toEqual({
      name: "laser-2",
      address: "tcp://10.0.0.9:23",
      has_z: false,
    });
    expect(machineRequest({ name: "l", address: "a", width: "400", height: "300.5", has_z: true })).toMatchObject({ has_z: true, work_area: { width_mm: 400, height_mm: 300.5 } });
  });
});

describe("routes", () => {
  it("matches parameters and decodes them", () => {
    expect(match("/inventory/:uid", "/inventory/PAD-V0100-L2025%2F09-00001")).toEqual({ uid: "PAD-V0100-L2025/09-00001" });
    expect(match("/inventory/:uid", "/inventory")).toBeNull();
    expect(match("/engraving/jobs/:id", "/engraving/machines/x")).toBeNull();
  });
});
