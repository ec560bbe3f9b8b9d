"use strict";
const token = new URLSearchParams(location.search).get("token") || "";
const result = document.getElementById("result");
document.getElementById("reset").addEventListener("submit", async (event) => {
  event.preventDefault();
  const response = await fetch("/api/v1/password-resets", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({
      token,
      password: document.getElementById("password").value,
      password_confirmation: document.getElementById("confirmation").value,
    }),
  });
  const body = await response.json().catch(() => ({}));
  if (response.ok) {
    result.textContent = body.message;
    document.getElementById("reset").hidden = true;
  } else {
    const fields = (body.errors || []).map((e) => e.message).join("；");
    result.textContent = fields || body.message || "重置失败，请稍后再试";
  }
});
