// xuexin's pages work without this script; it only adds what a browser can do on the spot:
// the password-strength meter, the 免费获取 countdown, and the confirmation check. Every word it
// shows comes from the page (the server's catalogue), never from here.
"use strict";

// The meter's score: the same rule as the domain's `strength_of` (character classes and
// length); the browser suite checks the two agree.
function strengthOf(text) {
  const classes = [/[a-z]/, /[A-Z]/, /[0-9]/, /[!-\/:-@\[-`{-~]/].filter((re) => re.test(text)).length;
  const points = classes * 2 + Math.floor(Math.min([...text].length, 16) / 4);
  if (points <= 4) return "weak";
  if (points <= 6) return "medium";
  if (points <= 9) return "strong";
  return "very-strong";
}

function meter(input, out) {
  const show = () => {
    if (input.value === "") {
      out.hidden = true;
      return;
    }
    const level = strengthOf(input.value);
    out.hidden = false;
    out.dataset.level = level;
    out.textContent = out.dataset.caption + out.dataset[level.replace("-s", "S")];
  };
  input.addEventListener("input", show);
  show();
}

function countdown(button) {
  let left = Number(button.dataset.wait || 0);
  if (!(left > 0)) return;
  const label = button.textContent;
  const tick = () => {
    if (left <= 0) {
      button.disabled = false;
      button.textContent = label;
      return;
    }
    button.disabled = true;
    button.textContent = button.dataset.waitText.replace("{seconds}", String(left));
    left -= 1;
    setTimeout(tick, 1000);
  };
  tick();
}

function confirmation(first, second) {
  const check = () => {
    const wrong = second.value !== "" && first.value !== second.value;
    second.setCustomValidity(wrong ? second.dataset.mismatch : "");
    let note = document.getElementById("password_confirmation-live");
    if (wrong && !note) {
      note = document.createElement("p");
      note.id = "password_confirmation-live";
      note.className = "error";
      note.setAttribute("role", "status");
      second.insertAdjacentElement("afterend", note);
    }
    if (note) note.textContent = wrong ? second.dataset.mismatch : "";
  };
  second.addEventListener("change", check);
  first.addEventListener("change", check);
}

document.addEventListener("DOMContentLoaded", () => {
  const password = document.getElementById("password");
  const strength = document.getElementById("password-strength");
  if (password && strength) meter(password, strength);
  const send = document.getElementById("send-code");
  if (send) countdown(send);
  const again = document.getElementById("password_confirmation");
  if (password && again && again.dataset.mismatch) confirmation(password, again);
});

// 打印个人学信档案: the print style sheet lays the archive out on A4; without the script the
// browser's own print command does the same.
for (const button of document.querySelectorAll("[data-print]")) {
  button.hidden = false;
  button.addEventListener("click", () => window.print());
}

// 上传学籍学历数据: with the script, the file goes up with a progress bar; the answer (the
// report's page) is then opened. Without it the form posts as any other.
for (const form of document.querySelectorAll("form[data-progress]")) {
  const bar = document.getElementById(form.dataset.progress);
  form.addEventListener("submit", (event) => {
    if (!bar || !window.XMLHttpRequest || !form.checkValidity()) return;
    event.preventDefault();
    const request = new XMLHttpRequest();
    request.open("POST", form.action);
    bar.closest(".progress").hidden = false;
    request.upload.addEventListener("progress", (progress) => {
      if (progress.lengthComputable) bar.value = Math.round((100 * progress.loaded) / progress.total);
    });
    request.addEventListener("load", () => {
      bar.value = 100;
      const page = new URL(request.responseURL);
      if (page.pathname !== new URL(form.action).pathname) {
        window.location.assign(page.href);
        return;
      }
      const answer = new DOMParser().parseFromString(request.responseText, "text/html");
      document.body.replaceWith(answer.body);
    });
    request.addEventListener("error", () => form.submit());
    form.querySelector("button[type=submit]").disabled = true;
    request.send(new FormData(form));
  });
}
