// The student's pages in a real Chromium (Debian's), driven by playwright-core: registration
// with and without JavaScript, the script's meter, countdown and confirmation check, login,
// the language switch, logout, recovery and find-username; axe-core on every page; no script
// error or CSP violation; no sideways scrolling at 390 px. With XUEXIN_SCREENS set it also
// writes each page at 1280 and 390 px into that directory (scripts/screens).
//
// Run by tests/api/browser.rs, which starts the service and passes:
//   XUEXIN_URL     the service's address
//   XUEXIN_PEOPLE  JSON: two people to register ({phone, name, document_number, email,
//                  password, strength, new_phone}); strength is the domain's score of the
//                  password, new_phone the number 更换手机号 moves to
//   CHROMIUM       the browser (default /usr/bin/chromium)
import { chromium } from "playwright-core";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

const base = process.env.XUEXIN_URL;
const people = JSON.parse(process.env.XUEXIN_PEOPLE || "[]");
const screens = process.env.XUEXIN_SCREENS || "";
const axeSource = readFileSync(
  new URL("./node_modules/axe-core/axe.min.js", import.meta.url),
  "utf8",
);
if (!base || people.length < 2) {
  console.error("suite: XUEXIN_URL and two XUEXIN_PEOPLE are needed");
  process.exit(2);
}
if (screens) mkdirSync(screens, { recursive: true });

function check(condition, message) {
  if (!condition) throw new Error(message);
}

const problems = [];

/** A page whose script errors, failed requests and CSP refusals are collected. */
async function open(context) {
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
async function audit(page, label) {
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
async function layout(page, name) {
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

async function outbox(to) {
  const response = await fetch(`${base}/api/v1/dev/outbox?to=${encodeURIComponent(to)}`);
  check(response.ok, `outbox for ${to}: ${response.status}`);
  return response.json();
}

async function smsCode(phone) {
  for (let i = 0; i < 100; i++) {
    const found = (await outbox(phone))
      .map((m) => /校验码是(\d{6})/.exec(m.body || ""))
      .find(Boolean);
    if (found) return found[1];
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no code reached ${phone}`);
}

const text = (page, selector) => page.locator(selector).first().innerText();

async function step(name, run) {
  const started = Date.now();
  process.stdout.write(`browser: ${name} ... `);
  await run();
  console.log(`ok (${Date.now() - started} ms)`);
}

/** Fills the registration form in the seed's order and submits it. */
async function register(page, person, withScript) {
  await page.goto(`${base}/register`);
  await page.fill("#phone", person.phone);
  await Promise.all([page.waitForURL(`${base}/register`), page.click("#send-code")]);
  const notice = await text(page, ".notice");
  check(
    notice.includes(`${person.phone.slice(0, 3)}****${person.phone.slice(7)}`),
    `the code notice names the masked phone: ${notice}`,
  );
  const send = page.locator("#send-code");
  if (withScript) {
    check(await send.isDisabled(), "免费获取 waits after a code was sent");
    check(/秒后重新获取/.test(await send.innerText()), "the countdown is shown");
  } else {
    check(!(await send.isDisabled()), "without the script the button stays usable");
  }
  await page.fill("#sms_code", await smsCode(person.phone));
  await page.fill("#password", person.password);
  await page.fill("#password_confirmation", person.password);
  check(
    (await page.locator("#password-strength").isVisible()) === withScript,
    "the meter shows only when the script runs",
  );
  await page.fill("#name", person.name);
  await page.selectOption("#document_type", "resident_id_card");
  await page.fill("#document_number", person.document_number);
  await page.fill("#email", person.email);
  await page.check("#accept_terms");
  await Promise.all([
    page.waitForURL(`${base}/register`),
    page.click("button[value=register]"),
  ]);
  const heading = await text(page, "h1");
  check(heading === "帐号注册成功!", `registered: ${heading}\n${await text(page, "main")}`);
}

async function login(page, person) {
  await page.goto(`${base}/login`);
  await page.fill("#login", person.phone);
  await page.fill("#password", person.password);
  await Promise.all([page.waitForURL(`${base}/account`), page.click("button.primary")]);
  check((await text(page, "h1")) === "账号管理", "the account page opens after login");
  check((await text(page, ".greeting")).includes(person.name), "the account page names the person");
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-dev-shm-usage"],
});
let failed = null;
try {
  const scripted = await browser.newContext({ locale: "zh-CN", viewport: { width: 1280, height: 800 } });
  const page = await open(scripted);
  const [first, second] = people;

  await step("the registration page in the seed's order, accessible", async () => {
    await page.goto(`${base}/register`);
    check((await text(page, "h1")) === "欢迎注册学信网帐号", "the registration title");
    const order = await page.$$eval("form input:not([type=hidden]), form select", (els) =>
      els.map((e) => e.id),
    );
    const wanted = ["phone", "sms_code", "password", "password_confirmation", "name", "document_type", "document_number", "email"];
    check(
      JSON.stringify(order.slice(0, wanted.length)) === JSON.stringify(wanted),
      `fields in the seed's order: ${order}`,
    );
    await audit(page, "/register");
    await layout(page, "register");
  });

  await step("the script scores the password as the server does and checks the confirmation", async () => {
    await page.fill("#password", "abc");
    check((await page.getAttribute("#password-strength", "data-level")) === "weak", "abc is weak");
    check((await text(page, "#password-strength")).includes("弱"), "the meter says 弱");
    await page.fill("#password", first.password);
    const level = await page.getAttribute("#password-strength", "data-level");
    check(level === first.strength.replace("_", "-"), `meter ${level}, server ${first.strength}`);
    await page.fill("#password_confirmation", "something else");
    await page.locator("#password_confirmation").blur();
    check(
      (await text(page, "#password_confirmation-live")) === "两次输入的密码不一致",
      "a mismatch is said at once",
    );
  });

  await step("a refused form shows each error beside its field", async () => {
    await page.goto(`${base}/register`);
    await Promise.all([page.waitForURL(`${base}/register`), page.click("button[value=register]")]);
    check((await page.getAttribute("#phone", "aria-invalid")) === "true", "the phone is marked");
    check((await text(page, "#phone-error")).length > 0, "the phone's error is shown");
    check(
      (await page.getAttribute("#phone", "aria-describedby")).includes("phone-error"),
      "the error is tied to its field",
    );
    await audit(page, "/register with errors");
    await layout(page, "register-errors");
  });

  await step("a person registers with the script on", async () => {
    await register(page, first, true);
    await audit(page, "注册成功");
    await layout(page, "registered");
  });

  await step("the mail's link verifies the e-mail with one press", async () => {
    let link = null;
    for (let i = 0; i < 100 && !link; i++) {
      link = (await outbox(first.email))
        .map((m) => /\/verify-email\?token=[A-Za-z0-9_-]+/.exec(m.body || ""))
        .find(Boolean);
      if (!link) await new Promise((r) => setTimeout(r, 50));
    }
    check(link, `no verification mail reached ${first.email}`);
    await page.goto(`${base}${link[0]}`);
    check((await text(page, "h1")) === "学信网 CHSI 邮箱验证", "the landing page");
    await audit(page, "/verify-email");
    await layout(page, "verify-email");
    await Promise.all([page.waitForURL(`${base}/verify-email`), page.click("button.primary")]);
    check((await text(page, ".notice")).includes("验证成功"), "the address is verified");
  });

  await step("the login page and the account page", async () => {
    await page.goto(`${base}/login`);
    await audit(page, "/login");
    await layout(page, "login");
    await login(page, first);
    check((await text(page, ".notice")) === "邮箱绑定成功", "the next login says 邮箱绑定成功");
    await audit(page, "/account");
    await layout(page, "account");
    await Promise.all([page.waitForURL(`${base}/account/log`), page.click("a[href='/account/log']")]);
    check((await text(page, "h1")) === "账号日志", "账号日志 opens from 账号管理");
    check((await page.locator("table.log tbody tr").count()) >= 2, "the log lists the changes");
    await audit(page, "/account/log");
    await layout(page, "account-log");
    await page.goto(`${base}/account`);
  });

  await step("更换手机号 from 账号管理, with the new phone's code", async () => {
    await Promise.all([page.waitForURL(`${base}/account/phone`), page.click("a[href='/account/phone']")]);
    await audit(page, "/account/phone");
    await page.fill("#current_password", first.password);
    await page.fill("#phone", first.new_phone);
    await Promise.all([page.waitForURL(`${base}/account/phone`), page.click("#send-code")]);
    check(await page.locator("#send-code").isDisabled(), "the countdown runs here too");
    await page.fill("#current_password", first.password);
    await page.fill("#sms_code", await smsCode(first.new_phone));
    await Promise.all([page.waitForURL(`${base}/account/phone`), page.click("button[value=change]")]);
    const masked = `${first.new_phone.slice(0, 3)}****${first.new_phone.slice(7)}`;
    check((await text(page, ".notice")).includes(masked), "the page names the new phone");
    await layout(page, "account-phone-done");
    await page.goto(`${base}/account`);
    check((await text(page, "main")).includes(masked), "账号管理 shows the new phone");
  });

  await step("English, and back", async () => {
    await Promise.all([page.waitForURL(/\/account$/), page.click("a[hreflang=en]")]);
    check((await page.getAttribute("html", "lang")) === "en", "the page is in English");
    check((await text(page, "h1")) === "Account", "the English title");
    await audit(page, "/account in English");
    await layout(page, "account-en");
    await Promise.all([page.waitForURL(/\/account$/), page.click("a[hreflang=zh-CN]")]);
    check((await page.getAttribute("html", "lang")) === "zh-CN", "back in Chinese");
  });

  await step("logging out ends the session", async () => {
    await page.click("header button.link");
    await page.goto(`${base}/account`);
    check(page.url().includes("/login"), `the account page asks for a login again: ${page.url()}`);
  });

  await step("recovery and find-username pages", async () => {
    await page.goto(`${base}/recover`);
    check((await page.locator("img.captcha").count()) === 1, "the captcha image shows");
    await audit(page, "/recover");
    await layout(page, "recover");
    await page.goto(`${base}/find-username`);
    await audit(page, "/find-username");
    await layout(page, "find-username");
  });

  await step("everything works without JavaScript", async () => {
    const plain = await browser.newContext({ javaScriptEnabled: false, locale: "zh-CN" });
    const bare = await open(plain);
    await register(bare, second, false);
    await login(bare, second);
    await plain.close();
  });

  check(problems.length === 0, `the pages reported:\n  ${problems.join("\n  ")}`);
} catch (error) {
  failed = error;
} finally {
  await browser.close();
}
if (failed) {
  console.log("FAILED");
  console.error(failed.stack || String(failed));
  process.exit(1);
}
console.log("browser: all passed");
