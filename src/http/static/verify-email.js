"use strict";
const token = new URLSearchParams(location.search).get("token") || "";
const result = document.getElementById("result");
document.getElementById("confirm").addEventListener("click", async () => {
  const response = await fetch("/api/v1/email-verifications/confirm", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ token }),
  });
  const body = await response.json().catch(() => ({}));
  result.textContent = response.ok
    ? "邮箱验证成功：" + body.email + "。请重新登录学信网。"
    : (body.message || "验证失败，请稍后再试");
});
