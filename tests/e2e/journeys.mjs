// The journeys the e2e backend publishes: the shipped trigger templates plus the seed
// journeys, unchanged — except cart_abandon's first wait, which the tests shorten from
// 1 hour to a few seconds (and its quiet hours, which would defer the reminder to the
// morning when the suite runs at night). The backend's scheduler runs on wall time, so
// this is how a test sees the real scheduler, outbox and SMTP delivery act on a real
// timer instead of waiting an hour. Everything else, the 10-day post-purchase delay
// included, is asserted on what the backend reports as scheduled.
import fs from "node:fs";
import path from "node:path";
import { REPO } from "./harness.mjs";

export const CART_REMINDER_DELAY = process.env.E2E_CART_REMINDER_DELAY || "6s";

export function writeJourneys(dir) {
  fs.mkdirSync(dir, { recursive: true });
  const sources = [path.join(REPO, "templates"), path.join(REPO, "examples/journeys")];
  const written = [];
  for (const src of sources) {
    for (const file of fs.readdirSync(src).filter((f) => f.endsWith(".json")).sort()) {
      const journey = JSON.parse(fs.readFileSync(path.join(src, file), "utf8"));
      if (journey.id === "cart_abandon") {
        const wait = journey.steps.find((s) => s.id === "wait_purchase");
        if (!wait) throw new Error("templates/cart_abandon.json: no step 'wait_purchase' any more; update tests/e2e/journeys.mjs");
        wait.timeout = CART_REMINDER_DELAY;
        if (journey.schedule) delete journey.schedule.quiet_hours;
      }
      fs.writeFileSync(path.join(dir, file), JSON.stringify(journey, null, 2));
      written.push(journey.id);
    }
  }
  return written;
}
