// The staff console in a real Chromium (Debian's), driven by playwright-core: each role signs
// in with its second factor (the TOTP code computed here as an authenticator app would) and
// does its work; the person's pages show the result. axe-core on every page; no script error
// or CSP violation; no sideways scrolling at 390 px; screenshots with XUEXIN_SCREENS.
//
// Run by tests/api/browser.rs, which starts the service, prepares the work and passes:
//   XUEXIN_URL       the service's address
//   XUEXIN_STAFF     JSON: role → {username, password}
//   XUEXIN_WORK      JSON: {claimant: {phone, password}, filer: {phone, password},
//                    conscript: {name, document_number}, upload: CSV text with a bad row,
//                    bad_line: its line number}
//   CHROMIUM         the browser (default /usr/bin/chromium)
import { chromium } from "playwright-core";
import { createHmac } from "node:crypto";
import { readFileSync } from "node:fs";
import { audit, check, layout, open, problems, step, text } from "./common.mjs";

const base = process.env.XUEXIN_URL;
const staff = JSON.parse(process.env.XUEXIN_STAFF || "{}");
const work = JSON.parse(process.env.XUEXIN_WORK || "null");
if (!base || !work || !staff.administrator) {
  console.error("console: XUEXIN_URL, XUEXIN_STAFF and XUEXIN_WORK are needed");
  process.exit(2);
}

/** RFC 4648 base32, as the enrolment page shows the secret. */
function base32(secret) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  const out = [];
  let bits = 0;
  let value = 0;
  for (const c of secret.replace(/[\s=]/g, "").toUpperCase()) {
    value = ((value << 5) | alphabet.indexOf(c)) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 255);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

/** The current RFC 6238 code (SHA-1, 30 s, 6 digits): what an authenticator app shows. */
function totp(secret) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(Date.now() / 30000)));
  const mac = createHmac("sha1", base32(secret)).update(counter).digest();
  const offset = mac[mac.length - 1] & 15;
  return String((mac.readUInt32BE(offset) & 0x7fffffff) % 1000000).padStart(6, "0");
}

const go = (page, url, click) =>
  Promise.all([page.waitForNavigation({ url: `${base}${url}` }), page.click(click)]);

/** Signs a staff member in: username and password, the QR enrolment, the recovery codes. */
async function signIn(page, role, screens = false) {
  const who = staff[role];
  await page.goto(`${base}/staff/login`);
  if (screens) {
    await audit(page, "/staff/login");
    await layout(page, "staff-login");
  }
  await page.fill("#username", who.username);
  await page.fill("#password", who.password);
  await go(page, "/staff/factor", "button.primary");
  check(await page.locator("img[src='/staff/factor/qr.svg']").isVisible(), "the QR code shows");
  if (screens) {
    await audit(page, "/staff/factor");
    await layout(page, "staff-factor");
  }
  const secret = await text(page, "code.secret");
  await page.fill("#code", totp(secret));
  await go(page, "/staff/factor", "button.primary");
  check((await page.locator("ol.codes li").count()) === 10, "ten recovery codes are shown once");
  if (screens) {
    await audit(page, "/staff/factor (codes)");
    await layout(page, "staff-codes");
  }
  await go(page, "/staff", "a[href='/staff']");
}

/** A console page: accessible, no wider than a phone, and its screenshots. */
async function looked(page, name) {
  await audit(page, new URL(page.url()).pathname);
  await layout(page, name);
}

async function personLogIn(page, login, password) {
  await page.goto(`${base}/login`);
  await page.fill("#login", login);
  await page.fill("#password", password);
  await Promise.all([page.waitForNavigation(), page.click("button.primary")]);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-dev-shm-usage"],
});
let failed = null;
const tab = async () => open(await browser.newContext({ locale: "zh-CN", acceptDownloads: true }));
try {
  const admin = await tab();
  await step("staff sign in with a QR-enrolled second factor", async () => {
    await signIn(admin, "administrator", true);
    check((await text(admin, ".greeting")).includes("系统管理员"), "the console names the role");
    check((await text(admin, "table")).includes("SecondFactorEnrolled"), "who did what: the enrolment");
    await looked(admin, "staff-home");
  });

  await step("a reviewer rejects then approves a photo claim; the person sees each state", async () => {
    const person = await tab();
    await personLogIn(person, work.claimant.phone, work.claimant.password);
    const photo = await person.screenshot({ type: "jpeg", clip: { x: 0, y: 0, width: 300, height: 200 } });
    const upload = async () => {
      await person.goto(`${base}/identity/photo`);
      await person.setInputFiles("#photo", { name: "me.jpg", mimeType: "image/jpeg", buffer: photo });
      await go(person, "/identity/photo", "button.primary");
      await person.goto(`${base}/identity`);
      check((await text(person, "table")).includes("待审核"), "the claim waits for review");
    };
    await upload();
    const reviewer = await tab();
    await signIn(reviewer, "reviewer");
    await reviewer.goto(`${base}/staff/reviews`);
    await looked(reviewer, "staff-reviews");
    await Promise.all([reviewer.waitForNavigation(), reviewer.click("table a[href^='/staff/reviews/']")]);
    check(await reviewer.locator(".review-photo img").evaluate((img) => img.naturalWidth > 0), "the photo shows");
    check((await text(reviewer, "dl.facts")).includes("*"), "the ID number is masked");
    await looked(reviewer, "staff-review");
    const reason = await reviewer.locator("input[name=reason]").first().getAttribute("value");
    await reviewer.locator("input[name=reason]").first().check();
    await go(reviewer, "/staff/reviews", "form.reject button");
    await person.goto(`${base}/identity`);
    const rejected = await text(person, "table");
    check(rejected.includes("审核失败") && rejected.includes(reason), `the person reads the reason: ${rejected}`);
    await upload();
    await reviewer.goto(`${base}/staff/reviews`);
    await Promise.all([reviewer.waitForNavigation(), reviewer.click("table a[href^='/staff/reviews/']")]);
    check((await text(reviewer, "table")).includes("ManualReviewRejected"), "the claim's history shows the rejection");
    await go(reviewer, "/staff/reviews", "form:not(.reject) button.primary");
    await person.goto(`${base}/identity`);
    check((await text(person, "table")).includes("审核通过"), "the person sees the approval");
    await reviewer.goto(`${base}/staff/name-changes`);
    await looked(reviewer, "staff-name-changes");
  });

  await step("a registrar uploads a file with a bad row, downloads the errors, exports the unchecked list", async () => {
    const registrar = await tab();
    await signIn(registrar, "registrar");
    await registrar.goto(`${base}/staff/imports`);
    await looked(registrar, "staff-imports");
    await registrar.setInputFiles("#file", { name: "enrolment.csv", mimeType: "text/csv", buffer: Buffer.from(work.upload) });
    await registrar.check("input[name=skip_invalid]");
    await Promise.all([registrar.waitForURL(/\/staff\/imports\/[A-Za-z0-9_-]+$/), registrar.click("button.primary")]);
    const errors = await text(registrar, "table.problems");
    check(errors.includes(String(work.bad_line)), `the bad row's line is listed: ${errors}`);
    await looked(registrar, "staff-import-report");
    const [download] = await Promise.all([registrar.waitForEvent("download"), registrar.click("a[download]")]);
    const csv = readFileSync(await download.path(), "utf8");
    check(csv.startsWith("\ufeff") && csv.includes(`\r\n${work.bad_line},`), `the errors as CSV: ${csv}`);
    await registrar.goto(`${base}/staff/unchecked`);
    await looked(registrar, "staff-unchecked");
    check((await text(registrar, "table")).includes(work.unchecked_name), "the unchecked list names the student");
    await registrar.fill("#class", "没有这个班");
    await go(registrar, "/staff/unchecked?grade=&class=%E6%B2%A1%E6%9C%89%E8%BF%99%E4%B8%AA%E7%8F%AD&major=", "form.filters button");
    check(!(await text(registrar, "table")).includes(work.unchecked_name), "the class filter applies");
    await registrar.goto(`${base}/staff/unchecked`);
    const [exported] = await Promise.all([registrar.waitForEvent("download"), registrar.click("a[download]")]);
    const list = readFileSync(await exported.path(), "utf8");
    check(list.startsWith("\ufeff") && list.includes(work.unchecked_name), "the export opens in Excel (UTF-8 with a BOM)");
    await registrar.goto(`${base}/staff/correction-requests`);
    await looked(registrar, "staff-correction-requests");
    // Another role's page: 403, said in words.
    const refused = await registrar.goto(`${base}/staff/audit`);
    check(refused.status() === 403, `another role's page is refused: ${refused.status()}`);
    await looked(registrar, "staff-forbidden");
  });

  await step("a province approves a degree correction, seeing before and after", async () => {
    const province = await tab();
    await signIn(province, "provincial_authority");
    await province.goto(`${base}/staff/degree-corrections`);
    const table = await text(province, "article table");
    check(table.includes(work.correction.before) && table.includes(work.correction.after), `before and after: ${table}`);
    await looked(province, "staff-corrections");
    await province.fill("article input[name=reason]", "学校提供的更正材料齐全");
    await go(province, "/staff/degree-corrections", "article button[value=approve]");
    check((await province.locator("article").count()) === 0, "nothing waits any more");
  });

  await step("a conscription office creates an account with a printed slip, and it logs in", async () => {
    const office = await tab();
    await signIn(office, "conscription_office");
    await office.goto(`${base}/staff/conscripts`);
    await looked(office, "staff-conscripts");
    await office.fill("#name", work.conscript.name);
    await office.fill("#document_number", work.conscript.document_number);
    await go(office, "/staff/conscripts", "form[action='/staff/conscripts'] button.primary");
    const password = await text(office, "#initial-password");
    check(password.length >= 6, "the slip shows the initial password");
    await looked(office, "staff-slip");
    const young = await tab();
    await personLogIn(young, work.conscript.document_number, password);
    check(new URL(young.url()).pathname === "/account", `the account logs in: ${young.url()}`);
    await office.goto(`${base}/staff/conscripts`);
    check((await text(office, "table")).includes(work.conscript.name), "the office's list shows it");
  });

  await step("an auditor filters the log and opens an as-of view, and checks the chain", async () => {
    const auditor = await tab();
    await signIn(auditor, "auditor");
    await auditor.goto(`${base}/staff/audit`);
    await auditor.fill("#event_type", "SecondFactorEnrolled");
    await Promise.all([auditor.waitForNavigation(), auditor.click("form.filters button")]);
    const types = await auditor.$$eval("table.audit tbody tr td:last-child", (cells) => cells.map((c) => c.textContent));
    check(types.length >= 5 && types.every((t) => t === "SecondFactorEnrolled"), `filtered: ${types}`);
    await looked(auditor, "staff-audit");
    await Promise.all([auditor.waitForNavigation(), auditor.click("table.audit a[href^='/staff/audit/as-of']")]);
    check((await text(auditor, "pre.state")).includes("[redacted]"), "the state, with secrets redacted");
    await looked(auditor, "staff-asof");
    await auditor.goto(`${base}/staff/audit?event_type=SecondFactorEnrolled`);
    await Promise.all([auditor.waitForNavigation(), auditor.click("table.audit a[href^='/staff/audit/accounts/']")]);
    check((await text(auditor, "table.audit")).includes("StaffAccountCreated"), "an account's history");
    await looked(auditor, "staff-audit-account");
    await auditor.goto(`${base}/staff/audit/chain`);
    await go(auditor, "/staff/audit/chain", "button.primary");
    check((await text(auditor, ".notice")).includes("日志完整"), "the chain is intact");
    await looked(auditor, "staff-chain");
  });

  await step("an administrator answers a ticket, and the person reads the answer", async () => {
    await admin.goto(`${base}/staff/tickets`);
    await looked(admin, "staff-tickets");
    const answer = "已为您解除手机号绑定，请重新注册。";
    await admin.fill("article textarea", answer);
    await go(admin, "/staff/tickets", "article button.primary");
    const person = await tab();
    await personLogIn(person, work.filer.phone, work.filer.password);
    await person.goto(`${base}/support`);
    const ticket = await text(person, "article.ticket");
    check(ticket.includes(answer) && ticket.includes("已回复"), `the person sees the answer: ${ticket}`);
    await admin.goto(`${base}/staff/platforms`);
    await admin.fill("#client_id", "yz");
    await admin.fill("#name", "研究生招生信息网");
    await admin.fill("#redirect_uris", "https://yz.example.cn/callback");
    await admin.check("input[name=scope][value=records]");
    await go(admin, "/staff/platforms", "form.wide-form button.primary");
    const secret = await text(admin, "#shown-secret");
    check(secret.length >= 40, `a client secret is shown once: ${secret}`);
    check((await text(admin, "table.log")).includes("研究生招生信息网"), "the platform is listed");
    for (const [path, name] of [["/staff/accounts", "staff-accounts"], ["/staff/schools", "staff-schools"], ["/staff/platforms", "staff-platforms"]]) {
      await admin.goto(`${base}${path}`);
      await looked(admin, name);
    }
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
console.log("console: all passed");
