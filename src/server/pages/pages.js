// Shared by the experiment pages: the token (kept in this tab only) and JSON fetching.
"use strict";

// A token may arrive in the URL's fragment (#token=…), which browsers never send to a server
// or write to its logs; it is kept in this tab's sessionStorage and removed from the address.
function takeToken() {
  const match = location.hash.match(/token=([^&]+)/);
  if (match) {
    sessionStorage.setItem("nextbest-token", decodeURIComponent(match[1]));
    history.replaceState(null, "", location.pathname + location.search);
  }
  return sessionStorage.getItem("nextbest-token");
}

function showLogin(message) {
  const box = document.getElementById("login");
  box.style.display = "block";
  document.getElementById("login-message").textContent = message;
  document.getElementById("login-form").onsubmit = (event) => {
    event.preventDefault();
    sessionStorage.setItem("nextbest-token", document.getElementById("login-token").value.trim());
    location.reload();
  };
}

async function getJson(path) {
  const token = takeToken();
  const headers = { "Accept": "application/json" };
  if (token) headers["Authorization"] = "Bearer " + token;
  const response = await fetch(path, { headers });
  if (response.status === 401 || response.status === 403) {
    showLogin(response.status === 401
      ? "This service needs a token with the 'results' scope."
      : "This token lacks the 'results' scope.");
    return null;
  }
  const body = await response.json();
  if (!response.ok) throw new Error(body.message || ("HTTP " + response.status));
  return body;
}

function el(tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes || {})) {
    if (key === "class") node.className = value; else node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function fail(error) {
  document.getElementById("content").append(el("p", { class: "error" }, "Could not load: " + error.message));
}
