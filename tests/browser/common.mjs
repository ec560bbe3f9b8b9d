// What both browser suites share (suite.mjs: the student's pages; console.mjs: the staff
// console): a page that collects script errors, failed requests and CSP refusals; axe-core's
// WCAG 2.1 A/AA audit; the 390 px check and the screenshots (XUEXIN_SCREENS); steps.
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

export const screens = process.env.XUEXIN_SCREENS || "";
const axeSource = readFileSync(
  new URL("./node_modules/axe-core/axe.min.js", import.meta.url),
  "utf8",
);
if (screens) mkdirSync(screens, { recursive: true });

export function check(condition, message) {
  if (!condition) throw new Error(message);
}

export const problems = [];

/** A page whose script errors, failed requests and CSP refusals are collected. */
export async function open(context) {
  const page = await context.newPage();
  page.on("pageerror", (e) => problems.push(`script error on ${page.url()}: ${e.message}`));
  // A refused form answers 4xx on purpose; any other resource that fails is a fault.
  page.on("response", (r) => {
    if (r.request().resourceType() !== "document" && r.status() >= 400) {
      problems.push(`${r.status()} for ${r.url()} on ${page.url()}`);
    }
  });
  page.on("console", (m) => {
    if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) {
      problems.push(`console error on ${page.url()}: ${m.text()}`);
    }
  });
  return page;
}

/** axe-core's WCAG 2.1 A/AA rules; any violation fails with its targets. */
export async function audit(page, label) {
  await page.evaluate(axeSource);
  const result = await page.evaluate(() =>
    // eslint-disable-next-line no-undef
    axe.run(document, { runOnly: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] }),
  );
  const found = result.violations.map(
    (v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`,
  );
  check(found.length === 0, `axe on ${label}:\n  ${found.join("\n  ")}`);
}

/** No sideways scrolling on a phone; the screenshots when asked for. */
export async function layout(page, name) {
  await page.setViewportSize({ width: 390, height: 844 });
  const wide = await page.evaluate(() => document.documentElement.scrollWidth);
  check(wide <= 391, `${name} scrolls sideways at 390 px (${wide} px wide)`);
  if (screens) {
    await page.screenshot({ path: join(screens, `${name}-390.png`), fullPage: true });
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.screenshot({ path: join(screens, `${name}-1280.png`), fullPage: true });
  }
  await page.setViewportSize({ width: 1280, height: 800 });
}

export const text = (page, selector) => page.locator(selector).first().innerText();
// Every click that submits a form or follows a link is paired with waitForNavigation (the next
// navigation, to that address): a form posted back to its own address would satisfy a plain
// URL check before its answer has loaded.

export async function step(name, run) {
  const started = Date.now();
  process.stdout.write(`browser: ${name} ... `);
  await run();
  console.log(`ok (${Date.now() - started} ms)`);
}

