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
//   XUEXIN_CLAIMANT JSON: someone who re-registers with a held ID number ({phone, name,
//                  password, email, document_number}) and the enrolment that proves it
//                  ({school_name, student_number, enrolment_year, level}); the school has
//                  reported the first person's enrolment too
//   CHROMIUM       the browser (default /usr/bin/chromium)
import { chromium } from "playwright-core";
import { join } from "node:path";
import { audit, check, layout, open, problems, screens, step, text } from "./common.mjs";

const base = process.env.XUEXIN_URL;
const people = JSON.parse(process.env.XUEXIN_PEOPLE || "[]");
const claimant = JSON.parse(process.env.XUEXIN_CLAIMANT || "null");
if (!base || people.length < 2 || !claimant) {
  console.error("suite: XUEXIN_URL, two XUEXIN_PEOPLE and XUEXIN_CLAIMANT are needed");
  process.exit(2);
}

async function outbox(to) {
  const response = await fetch(`${base}/api/v1/dev/outbox?to=${encodeURIComponent(to)}`);
  check(response.ok, `outbox for ${to}: ${response.status}`);
  return response.json();
}

/** The code of the newest text to reach `phone` once it has more than `seen` messages (the
 *  outbox lists the newest first). */
async function newCode(phone, seen) {
  for (let i = 0; i < 100; i++) {
    const messages = await outbox(phone);
    const found = messages
      .slice(0, messages.length - seen)
      .map((m) => /校验码是(\d{6})/.exec(m.body || ""))
      .find(Boolean);
    if (found) return found[1];
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no new code reached ${phone}`);
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

/** Fills the registration form in the seed's order and submits it. */
async function register(page, person, withScript) {
  await page.goto(`${base}/register`);
  await page.fill("#phone", person.phone);
  await Promise.all([page.waitForNavigation({ url: `${base}/register` }), page.click("#send-code")]);
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
    page.waitForNavigation({ url: `${base}/register` }),
    page.click("button[value=register]"),
  ]);
  const heading = await text(page, "h1");
  check(heading === "帐号注册成功!", `registered: ${heading}\n${await text(page, "main")}`);
}

async function login(page, person, login = person.phone) {
  await page.goto(`${base}/login`);
  await page.fill("#login", login);
  await page.fill("#password", person.password);
  await Promise.all([page.waitForNavigation({ url: `${base}/account` }), page.click("button.primary")]);
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
    await Promise.all([page.waitForNavigation({ url: `${base}/register` }), page.click("button[value=register]")]);
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
    await Promise.all([page.waitForNavigation({ url: `${base}/verify-email` }), page.click("button.primary")]);
    check((await text(page, ".notice")).includes("验证成功"), "the address is verified");
  });

  await step("the login page and the account page", async () => {
    await page.goto(`${base}/login`);
    check((await text(page, ".platforms")).includes("微信登录"), "the login page offers 微信登录");
    check((await text(page, ".platforms")).includes("支付宝登录"), "and 支付宝登录");
    await audit(page, "/login");
    await layout(page, "login");
    await login(page, first);
    check((await text(page, ".notice")) === "邮箱绑定成功", "the next login says 邮箱绑定成功");
    await audit(page, "/account");
    await layout(page, "account");
    await Promise.all([page.waitForNavigation({ url: `${base}/account/log` }), page.click("a[href='/account/log']")]);
    check((await text(page, "h1")) === "账号日志", "账号日志 opens from 账号管理");
    check((await page.locator("table.log tbody tr").count()) >= 2, "the log lists the changes");
    await audit(page, "/account/log");
    await layout(page, "account-log");
    await page.goto(`${base}/inbox`);
    check((await text(page, "h1")) === "收件箱", "the classmates' inbox");
    await audit(page, "/inbox");
    await layout(page, "inbox");
    await page.goto(`${base}/account`);
  });

  await step("学信档案: the record, a check conclusion, the print sheet", async () => {
    // The school's file came first; the record joins the account once the binder has run.
    for (let i = 0; i < 50; i++) {
      await page.goto(`${base}/archive`);
      if ((await page.locator("article.record").count()) > 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    check((await text(page, "h1")).includes("学信档案"), "the archive opens");
    const record = page.locator("article.record").first();
    check((await record.locator("h2").innerText()).includes("本科-西部师范大学-软件工程"), "the record's title");
    const sheet = await record.locator("dl.sheet").innerText();
    check(sheet.includes("学号") && sheet.includes("2200300301"), `the sheet shows the student number: ${sheet}`);
    const masked = `${first.document_number.slice(0, 2)}**************${first.document_number.slice(16)}`;
    check(sheet.includes(masked) && !sheet.includes(first.document_number), "the ID number is masked");
    check((await record.locator("figure").count()) === 2, "the admission and degree photos have their places");
    await audit(page, "/archive");
    await layout(page, "archive");
    // A refused conclusion: "wrong" without the correction.
    await record.locator("input[value=wrong]").check();
    await Promise.all([page.waitForNavigation({ url: `${base}/archive/check` }), record.locator("button.primary").click()]);
    check((await text(page, "#conclusion-error")).length > 0, "the conclusion's error shows at its field");
    await page.locator("article.record").first().locator("input[value=correct]").check();
    await Promise.all([
      page.waitForNavigation({ url: `${base}/archive/check` }),
      page.locator("article.record").first().locator("button.primary").click(),
    ]);
    check((await text(page, ".notice")) === "核对结论已提交", "the conclusion is recorded");
    check(
      (await text(page, "table.checks")).includes("学籍信息已核对，正确无误"),
      "the check table shows the conclusion",
    );
    // The print preview: 个人学信档案 on A4, without the page's frame and forms.
    await page.emulateMedia({ media: "print" });
    check(await page.locator("h1 .print-only").isVisible(), "the sheet's title prints");
    check(!(await page.locator("header.top").isVisible()), "the site's header does not print");
    check(await page.locator(".signature").first().isVisible(), "the signature lines print");
    if (screens) {
      await page.screenshot({ path: join(screens, "archive-print.png"), fullPage: true });
    }
    const pdf = await page.pdf({ format: "A4" });
    check(pdf.length > 1000, "the archive prints to A4");
    await page.emulateMedia({ media: "screen" });
    await page.goto(`${base}/archive/bind`);
    await audit(page, "/archive/bind");
    await layout(page, "archive-bind");
    await Promise.all([page.waitForNavigation({ url: `${base}/archive/bind` }), page.click("button.primary")]);
    check((await page.getAttribute("#certificate_number", "aria-invalid")) === "true", "an empty bind form is refused at its fields");
  });

  await step("登录设备: another session is signed out from here", async () => {
    const elsewhere = await browser.newContext({ locale: "zh-CN", userAgent: "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 MicroMessenger/8.0.40" });
    const phone = await open(elsewhere);
    await login(phone, first);
    await page.goto(`${base}/account`);
    await Promise.all([page.waitForNavigation({ url: `${base}/account/sessions` }), page.click("a[href='/account/sessions']")]);
    const rows = page.locator("table.sessions tbody tr");
    check((await rows.count()) >= 2, "both sessions are listed");
    check((await text(page, "table.sessions")).includes("WeChat · iOS"), "the other device is named");
    await audit(page, "/account/sessions");
    await layout(page, "account-sessions");
    const other = page.locator("table.sessions tbody tr:not(.current)").filter({ hasText: "WeChat" });
    await Promise.all([page.waitForNavigation({ url: `${base}/account/sessions` }), other.locator("button").click()]);
    check((await text(page, ".notice")).includes("1"), "one session was signed out");
    check(!(await text(page, "table.sessions")).includes("WeChat"), "the other device is gone from the list");
    await phone.goto(`${base}/account`);
    check(phone.url().endsWith("/login"), `the other device must log in again: ${phone.url()}`);
    await elsewhere.close();
    await page.goto(`${base}/account`);
  });

  await step("更换手机号 from 账号管理, with the new phone's code", async () => {
    await Promise.all([page.waitForNavigation({ url: `${base}/account/phone` }), page.click("a[href='/account/phone']")]);
    await audit(page, "/account/phone");
    await page.fill("#current_password", first.password);
    await page.fill("#phone", first.new_phone);
    await Promise.all([page.waitForNavigation({ url: `${base}/account/phone` }), page.click("#send-code")]);
    check(await page.locator("#send-code").isDisabled(), "the countdown runs here too");
    await page.fill("#current_password", first.password);
    await page.fill("#sms_code", await smsCode(first.new_phone));
    await Promise.all([page.waitForNavigation({ url: `${base}/account/phone` }), page.click("button[value=change]")]);
    const masked = `${first.new_phone.slice(0, 3)}****${first.new_phone.slice(7)}`;
    check((await text(page, ".notice")).includes(masked), "the page names the new phone");
    await layout(page, "account-phone-done");
    await page.goto(`${base}/account`);
    check((await text(page, "main")).includes(masked), "账号管理 shows the new phone");
  });

  await step("修改密码, 修改安全邮箱, 修改姓名 and 设置密保问题 from 账号管理", async () => {
    for (const what of ["password", "email", "name", "questions"]) {
      await page.goto(`${base}/account`);
      await Promise.all([
        page.waitForNavigation({ url: `${base}/account/change/${what}` }),
        page.click(`a[href='/account/change/${what}']`),
      ]);
      await audit(page, `/account/change/${what}`);
      await layout(page, `account-change-${what}`);
    }
    // 设置密保问题: a wrong current password is refused at its field, then it works.
    for (const n of [1, 2, 3]) {
      await page.fill(`#question${n}`, `问题${n}`);
      await page.fill(`#answer${n}`, `答案${n}`);
    }
    await page.fill("#current_password", "not-the-password");
    await Promise.all([page.waitForNavigation({ url: `${base}/account/change/questions` }), page.click("button.primary")]);
    check((await text(page, "#current_password-error")).length > 0, "a wrong current password shows at its field");
    for (const n of [1, 2, 3]) await page.fill(`#answer${n}`, `答案${n}`);
    await page.fill("#current_password", first.password);
    await Promise.all([page.waitForNavigation({ url: `${base}/account/change/questions` }), page.click("button.primary")]);
    check((await text(page, ".notice")) === "密保问题设置成功", "the questions are set");
    await page.goto(`${base}/account`);
  });

  await step("问题反馈: a report with a screenshot, and its state", async () => {
    await page.goto(`${base}/account`);
    await Promise.all([page.waitForNavigation({ url: `${base}/support` }), page.click("a[href='/support']")]);
    await audit(page, "/support");
    await page.fill("#username", first.phone);
    await page.setInputFiles("#screenshot", {
      name: "page.png",
      mimeType: "image/png",
      buffer: await page.screenshot({ clip: { x: 0, y: 0, width: 200, height: 120 } }),
    });
    await page.fill("#description", "注册时提示手机号已经被注册");
    await Promise.all([page.waitForNavigation({ url: `${base}/support` }), page.click("form.support-form button.primary")]);
    check((await text(page, ".notice")).includes("问题反馈已提交"), "the report is filed");
    check((await text(page, "article.ticket")).includes("待处理"), "it waits for an answer");
    check((await page.locator("article.ticket a[href$='/screenshot']").count()) === 1, "with its screenshot");
    await audit(page, "/support with a ticket");
    await layout(page, "support");
    await page.goto(`${base}/account`);
  });

  await step("English, and back", async () => {
    await Promise.all([page.waitForNavigation({ url: /\/account$/ }), page.click("a[hreflang=en]")]);
    check((await page.getAttribute("html", "lang")) === "en", "the page is in English");
    check((await text(page, "h1")) === "Account", "the English title");
    await audit(page, "/account in English");
    await layout(page, "account-en");
    await Promise.all([page.waitForNavigation({ url: /\/account$/ }), page.click("a[hreflang=zh-CN]")]);
    check((await page.getAttribute("html", "lang")) === "zh-CN", "back in Chinese");
  });

  await step("logging out ends the session", async () => {
    await page.click("header button.link");
    await page.goto(`${base}/account`);
    check(page.url().includes("/login"), `the account page asks for a login again: ${page.url()}`);
  });

  await step("找回密码 by SMS: the captcha, only the bound ways, the code, a new password", async () => {
    await page.goto(`${base}/recover`);
    check((await page.locator("img.captcha").count()) === 1, "the captcha image shows");
    await audit(page, "/recover");
    await layout(page, "recover");
    await page.fill("#username", first.new_phone);
    const captcha = await page.getAttribute("input[name=captcha_id]", "value");
    await page.fill("#captcha_answer", (await outbox(captcha))[0].body);
    await Promise.all([page.waitForNavigation({ url: `${base}/recover` }), page.click("button.primary")]);
    const ways = await text(page, "ul.methods");
    check(ways.includes("接收校验码") && ways.includes("密保问题"), `the bound ways: ${ways}`);
    check(ways.includes("安全邮箱"), "the verified e-mail is a way too");
    await audit(page, "/recover (ways)");
    await layout(page, "recover-methods");
    const seen = (await outbox(first.new_phone)).length;
    await Promise.all([page.waitForNavigation({ url: `${base}/recover` }), page.click("ul.methods button >> nth=0")]);
    await page.fill("#sms_code", await newCode(first.new_phone, seen));
    await Promise.all([page.waitForNavigation({ url: `${base}/recover` }), page.click("button.primary")]);
    const renewed = `${first.password}-New`;
    await page.fill("#password", renewed);
    await page.fill("#password_confirmation", renewed);
    await Promise.all([page.waitForNavigation({ url: `${base}/recover` }), page.click("button.primary")]);
    check((await text(page, ".notice")) === "密码重置成功", "密码重置成功");
    await layout(page, "recover-done");
    await login(page, { ...first, password: renewed }, first.new_phone);
    await page.click("header button.link");
  });

  await step("find-username page", async () => {
    await page.goto(`${base}/find-username`);
    await audit(page, "/find-username");
    await layout(page, "find-username");
  });

  await step("证件号码重复: re-register with a held ID number and prove it by enrolment", async () => {
    const other = await browser.newContext({ locale: "zh-CN" });
    const tab = await open(other);
    await tab.goto(`${base}/register`);
    await tab.fill("#phone", claimant.phone);
    await Promise.all([tab.waitForNavigation({ url: `${base}/register` }), tab.click("#send-code")]);
    const fill = async () => {
      await tab.fill("#password", claimant.password);
      await tab.fill("#password_confirmation", claimant.password);
    };
    await tab.fill("#sms_code", await smsCode(claimant.phone));
    await fill();
    await tab.fill("#name", claimant.name);
    await tab.selectOption("#document_type", "resident_id_card");
    await tab.fill("#document_number", claimant.document_number);
    await tab.check("#accept_terms");
    await Promise.all([tab.waitForNavigation({ url: `${base}/register` }), tab.click("button[value=register]")]);
    check(await tab.locator("#id-choices").isVisible(), "a held ID number offers 我要重新注册");
    await tab.check("input[name=re_register]");
    await fill();
    await Promise.all([tab.waitForNavigation({ url: `${base}/register` }), tab.click("button[value=register]")]);
    check((await text(tab, "h1")) === "帐号注册成功!", `re-registered: ${await text(tab, "main")}`);
    await login(tab, claimant);
    await Promise.all([tab.waitForNavigation({ url: `${base}/identity` }), tab.click("a[href='/identity']")]);
    check((await text(tab, "table")).includes("证件重复，待核验"), "the claim waits for a proof");
    await audit(tab, "/identity");
    await layout(tab, "identity");
    for (const proof of ["classmates", "photo", "liveness"]) {
      await tab.goto(`${base}/identity/${proof}`);
      await audit(tab, `/identity/${proof}`);
      await layout(tab, `identity-${proof}`);
    }
    await tab.goto(`${base}/identity`);
    await Promise.all([tab.waitForNavigation({ url: `${base}/identity/records` }), tab.click("a[href='/identity/records']")]);
    await audit(tab, "/identity/records");
    await layout(tab, "identity-records");
    await tab.fill("#school_name", claimant.school_name);
    await tab.fill("#student_number", "0000000000");
    await tab.fill("#enrolment_year", claimant.enrolment_year);
    await tab.selectOption("#level", claimant.level);
    await Promise.all([tab.waitForNavigation({ url: `${base}/identity/records` }), tab.click("button.primary")]);
    check((await text(tab, "#school_name-error")) === "学籍或学历信息核对不正确", "a wrong student number is refused at the form");
    await tab.fill("#student_number", claimant.student_number);
    await Promise.all([tab.waitForNavigation({ url: `${base}/identity/records` }), tab.click("button.primary")]);
    check((await text(tab, ".notice")).includes("核对正确"), "the proof is accepted");
    check((await text(tab, "table")).includes("审核通过"), "the claim is approved");
    // The account turns Active when the identity-transfer manager has run (issue 20).
    let active = false;
    for (let i = 0; i < 50 && !active; i++) {
      await tab.goto(`${base}/account`);
      active = (await text(tab, "dl.facts")).includes("正常");
      if (!active) await new Promise((r) => setTimeout(r, 100));
    }
    check(active, "the account is active now");
    await other.close();
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
