/* OAO point of sale (/store/pos): scan, attach a member, take the money, print the receipt.
 *
 * Plain JavaScript, no build step. The price list comes with the page, so scanning and cash sales go on
 * when the shop's connection drops: finished sales wait in IndexedDB and are sent, oldest first, when it
 * returns. Every sale carries an id made here, and a resend sends the very same body, so the server
 * records it once however often it arrives. Before any fetch we look at navigator.onLine: an offline
 * till makes no requests (and logs no network errors), it queues.
 */
(function () {
  "use strict";

  // The receipt page loads this file only for its print button.
  document.querySelectorAll("[data-print]").forEach(function (button) {
    button.addEventListener("click", function () { window.print(); });
  });
  var configEl = document.getElementById("pos-config");
  var root = document.getElementById("pos");
  if (!configEl || !root) return;

  var config = JSON.parse(configEl.textContent);
  var csrf = root.getAttribute("data-csrf") || "";
  // The register's clock follows the server's: a queued sale's sold_at must never look like the future.
  var clockOffset = Date.parse(config.server_now) - Date.now();
  var SALE_KEY = "oao.pos.sale";
  var REGISTER_KEY = "oao.pos.register";
  var $ = function (id) { return document.getElementById(id); };

  // --- money, ids, messages ------------------------------------------------------------------------

  var scale = Math.pow(10, config.exponent);

  function fmt(minor) {
    var sign = minor < 0 ? "-" : "";
    var text = (Math.abs(minor) / scale).toLocaleString("en-US", {
      minimumFractionDigits: config.exponent, maximumFractionDigits: config.exponent });
    return config.symbol ? sign + config.symbol + text : sign + text + " " + config.currency;
  }

  function plain(minor) { return (minor / scale).toFixed(config.exponent); }

  function parseMoney(text) {
    var cleaned = String(text || "").replace(",", ".").replace(/[^0-9.]/g, "");
    if (!cleaned || isNaN(Number(cleaned))) return null;
    return Math.round(Number(cleaned) * scale);
  }

  function uuid() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    var b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 15) | 64; b[8] = (b[8] & 63) | 128;
    var h = Array.prototype.map.call(b, function (x) { return ("0" + x.toString(16)).slice(-2); }).join("");
    return [h.slice(0, 8), h.slice(8, 12), h.slice(12, 16), h.slice(16, 20), h.slice(20)].join("-");
  }

  function nowIso() { return new Date(Date.now() + clockOffset).toISOString(); }

  function plural(n, one, many) { return n + " " + (n === 1 ? one : many); }

  function say(text, tone) {
    var el = $("pos-message");
    el.textContent = text;
    el.setAttribute("data-tone", tone || "info");
  }

  // --- talking to the server -----------------------------------------------------------------------

  function Offline() { this.message = "The till is offline."; }
  function Refused(status, problem) {
    this.status = status;
    this.problem = problem || {};
    this.message = (problem && (problem.detail || problem.title)) || ("The server answered " + status + ".");
  }

  function post(path, body) {
    if (!navigator.onLine) return Promise.reject(new Offline());
    return fetch(path, {
      method: "POST", credentials: "same-origin", body: JSON.stringify(body || {}),
      headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRF-Token": csrf },
    }).catch(function () { throw new Offline(); }).then(function (resp) {
      return resp.json().catch(function () { return {}; }).then(function (data) {
        if (!resp.ok) throw new Refused(resp.status, data);
        return data;
      });
    });
  }

  // --- the offline queue (IndexedDB) ---------------------------------------------------------------

  var dbPromise = null;

  function openDb() {
    if (!dbPromise) {
      dbPromise = new Promise(function (resolve, reject) {
        var req = indexedDB.open("oao-pos", 1);
        req.onupgradeneeded = function () { req.result.createObjectStore("queue", { keyPath: "sale_id" }); };
        req.onsuccess = function () { resolve(req.result); };
        req.onerror = function () { reject(req.error); };
      });
    }
    return dbPromise;
  }

  function queueOp(mode, op) {
    return openDb().then(function (db) {
      return new Promise(function (resolve, reject) {
        var tx = db.transaction("queue", mode);
        var req = op(tx.objectStore("queue"));
        tx.oncomplete = function () { resolve(req ? req.result : undefined); };
        tx.onerror = function () { reject(tx.error); };
      });
    });
  }

  function queued() {
    return queueOp("readonly", function (s) { return s.getAll(); }).then(function (all) {
      return (all || []).sort(function (a, b) { return a.queued_at - b.queued_at; });
    });
  }
  function enqueue(entry) { return queueOp("readwrite", function (s) { return s.put(entry); }); }
  function dequeue(saleId) { return queueOp("readwrite", function (s) { return s.delete(saleId); }); }

  var syncing = false;

  function sync() {
    if (syncing || !navigator.onLine) return Promise.resolve();
    syncing = true;
    return queued().then(function (all) {
      var waiting = all.filter(function (e) { return e.status === "queued"; });
      return waiting.reduce(function (chain, entry) {
        return chain.then(function (go) {
          if (!go || !navigator.onLine) return false;
          return post("/store/pos/sales", entry.body).then(function () {
            return dequeue(entry.sale_id).then(function () { return true; });
          }, function (err) {
            if (err instanceof Offline) return false;
            if (err.status === 409 && err.problem.pos_sale_id) {
              // Recorded already: an earlier copy arrived even though its answer was lost.
              return dequeue(entry.sale_id).then(function () { return true; });
            }
            if (err.status === 401 || err.status >= 500) {
              say("Queued sales wait: " + err.message, "error");
              return false;
            }
            entry.status = "refused";
            entry.error = err.message;
            return enqueue(entry).then(function () { return true; });
          }).then(function (go) { return showConnection().then(function () { return go; }); });
        });
      }, Promise.resolve(true));
    }).catch(function () { /* the next round tries again */ }).then(function () {
      syncing = false;
      return showConnection();
    });
  }

  function showConnection() {
    return queued().then(function (all) {
      var waiting = all.filter(function (e) { return e.status === "queued"; });
      var refused = all.filter(function (e) { return e.status === "refused"; });
      var n = waiting.length;
      var state = !navigator.onLine ? "offline" : n ? "syncing" : "online";
      var text = state === "offline" ? "Offline — " + plural(n, "sale", "sales") + " queued"
        : state === "syncing" ? "Online — sending " + plural(n, "queued sale", "queued sales") + "…" : "Online";
      $("pos-connection").setAttribute("data-state", state);
      $("pos-connection-text").textContent = text;
      showRefused(refused);
    }).catch(function () {
      $("pos-connection-text").textContent = navigator.onLine ? "Online" : "Offline — sales cannot be queued here";
    });
  }

  function showRefused(refused) {
    var box = $("pos-refused");
    var list = $("pos-refused-list");
    list.textContent = "";
    box.hidden = refused.length === 0;
    refused.forEach(function (entry) {
      var li = document.createElement("li");
      var when = new Date(entry.body.sold_at).toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit" });
      li.appendChild(document.createTextNode("Sale of " + when + ": " + entry.error + " "));
      var retry = button("Send again", "secondary small", function () {
        entry.status = "queued"; entry.error = null;
        enqueue(entry).then(sync);
      });
      var discard = button("Discard", "danger small", function () { dequeue(entry.sale_id).then(showConnection); });
      li.appendChild(retry); li.appendChild(document.createTextNode(" ")); li.appendChild(discard);
      list.appendChild(li);
    });
  }

  // --- the sale ------------------------------------------------------------------------------------

  function newSale() {
    return { id: "pos-" + uuid(), lines: [], member: null, tenders: [], wallet: null, seq: 0 };
  }

  var sale = newSale();
  try { sale = JSON.parse(localStorage.getItem(SALE_KEY)) || sale; } catch (e) { /* a fresh sale */ }
  var openPanel = null;
  var busy = false;

  function save() { localStorage.setItem(SALE_KEY, JSON.stringify(sale)); }

  function register() {
    var id = $("pos-register").value;
    return config.registers.filter(function (r) { return r.id === id; })[0] || null;
  }

  function total() { return sale.lines.reduce(function (sum, l) { return sum + l.unit * l.qty; }, 0); }
  function paid() { return sale.tenders.reduce(function (sum, t) { return sum + t.amount_minor; }, 0); }
  function due() { return Math.max(total() - paid(), 0); }
  function locked() { return sale.tenders.length > 0 || !!sale.wallet; }

  function gtinValid(code) {
    var digits = code.split("").map(Number);
    var check = digits.pop();
    var sum = digits.reverse().reduce(function (acc, d, i) { return acc + d * (i % 2 === 0 ? 3 : 1); }, 0);
    return (10 - (sum % 10)) % 10 === check;
  }

  function addProduct(code) {
    if (!gtinValid(code)) { say("Barcode " + code + " did not read correctly (check digit); scan it again.", "error"); return; }
    if (locked()) { say("Payment has started; cancel the sale to change its items.", "error"); return; }
    var gtin14 = ("00000000000000" + code).slice(-14);
    var entry = config.prices[gtin14];
    var reg = register();
    if (!entry) { say("Unknown barcode " + code + ": it is not in this store's price list.", "error"); return; }
    if (!reg) { say("Choose a register first.", "error"); return; }
    var line = sale.lines.filter(function (l) { return l.gtin14 === gtin14; })[0];
    if (line) { line.qty += 1; } else {
      line = { gtin14: gtin14, gtin: entry[0], title: entry[1], unit: reg.kind === "counter" ? entry[2] : entry[3], qty: 1 };
      sale.lines.push(line);
    }
    say(line.title + " · " + fmt(line.unit) + (line.qty > 1 ? " × " + line.qty : ""), "ok");
    changed();
  }

  function onScan(raw) {
    var code = raw.replace(/[\s-]/g, "").toUpperCase();
    if (!code) return;
    if (/^[0-9]+$/.test(code) && [8, 12, 13, 14].indexOf(code.length) >= 0) { addProduct(code); return; }
    if (/^[0-9A-Z]{18}$/.test(code)) { attachMember(code); return; }
    say("“" + raw.trim() + "” is not a product barcode or a member code.", "error");
  }

  // --- members -------------------------------------------------------------------------------------

  function attachMember(code) {
    if (!navigator.onLine) { say("Attaching a member needs the connection; the till is offline.", "error"); return; }
    if (sale.tenders.some(function (t) { return t.kind === "points"; })) {
      say("Points of the attached member pay this sale already; cancel the sale to change the member.", "error");
      return;
    }
    busy = true; render();
    post("/store/pos/member", { code: code }).then(function (member) {
      sale.member = member;
      var points = member.balances.length ? " · " + member.balances[0].available.toLocaleString("en-US") + " points" : "";
      say("Member attached: " + (member.name || "name not shared") + points + ".", "ok");
      $("pos-member-code").value = "";
      $("pos-scan").focus();
    }, function (err) { say(err.message, "error"); }).then(function () { busy = false; changed(); });
  }

  // --- tenders -------------------------------------------------------------------------------------

  function addTender(tender) {
    sale.tenders.push(tender);
    changed();
    if (due() === 0) finish(sale.tenders.slice());
  }

  function holdPoints(programmeId, amount) {
    sale.seq += 1;
    var holdId = sale.id + "-p" + sale.seq;
    save();
    busy = true; render();
    post("/store/pos/points-holds", { hold_id: holdId, member_ref: sale.member.member_ref,
                                      programme_id: programmeId, amount_minor: amount }).then(function (hold) {
      sale.member.balances.forEach(function (b) {
        if (b.programme_id === hold.programme_id) { b.available -= hold.points; b.value_minor -= hold.value_minor; }
      });
      closePanel();
      say(hold.points.toLocaleString("en-US") + " points held: " + fmt(hold.value_minor) + ".", "ok");
      busy = false;
      $("pos-scan").focus();
      addTender({ kind: "points", amount_minor: hold.value_minor, ref: hold.hold_id, points: hold.points,
                  programme_id: hold.programme_id });
    }, function (err) { busy = false; say(err.message, "error"); render(); });
  }

  function removePoints(tender) {
    if (!navigator.onLine) { say("Giving points back needs the connection.", "error"); return; }
    busy = true; render();
    post("/store/pos/points-holds/" + encodeURIComponent(tender.ref) + "/void", {}).then(function () {
      sale.tenders = sale.tenders.filter(function (t) { return t !== tender; });
      if (sale.member) sale.member.balances.forEach(function (b) {
        if (b.programme_id === tender.programme_id) { b.available += tender.points; b.value_minor += tender.amount_minor; }
      });
      say("Points given back to the member.", "ok");
    }, function (err) { say(err.message, "error"); }).then(function () { busy = false; changed(); });
  }

  function startWallet(flow, amount, authCode) {
    var reg = register();
    sale.seq += 1;
    var key = sale.id + "-w" + sale.seq;
    save();
    busy = true; render();
    post("/store/pos/wallet", { payment_key: key, register_id: reg.id, amount_minor: amount, flow: flow,
                                auth_code: authCode || null }).then(function (payment) {
      busy = false;
      closePanel();
      sale.wallet = { intent_id: payment.intent_id, flow: flow, amount_minor: payment.amount_minor };
      walletState(payment);
      $("pos-scan").focus();
    }, function (err) { busy = false; say(err.message, "error"); render(); });
  }

  var pollTimer = null;

  function walletState(payment) {
    if (!sale.wallet || payment.intent_id !== sale.wallet.intent_id) return;
    if (payment.status === "succeeded") {
      var tender = { kind: "wallet", amount_minor: sale.wallet.amount_minor, ref: sale.wallet.intent_id };
      sale.wallet = null;
      say("Wallet payment of " + fmt(tender.amount_minor) + " received.", "ok");
      addTender(tender);
      return;
    }
    if (payment.status === "canceled") {
      sale.wallet = null;
      say("The wallet payment did not go through" + (payment.last_error ? ": " + payment.last_error : "") + ".", "error");
      changed();
      return;
    }
    if (payment.qr_svg) $("pos-wallet-qr").innerHTML = payment.qr_svg; // SVG made by our server (segno)
    $("pos-wallet-link").href = payment.pay_url;
    sale.wallet.pay_url = payment.pay_url;
    changed();
    pollTimer = window.setTimeout(pollWallet, 1200);
  }

  function pollWallet() {
    pollTimer = null;
    if (!sale.wallet) return;
    if (!navigator.onLine) { pollTimer = window.setTimeout(pollWallet, 2000); return; }
    post("/store/pos/wallet/" + encodeURIComponent(sale.wallet.intent_id) + "/refresh", {})
      .then(walletState, function () { pollTimer = window.setTimeout(pollWallet, 2500); });
  }

  function cancelWallet() {
    if (!sale.wallet) return;
    if (!navigator.onLine) { say("Cancelling the wallet payment needs the connection.", "error"); return; }
    var intentId = sale.wallet.intent_id;
    post("/store/pos/wallet/" + encodeURIComponent(intentId) + "/cancel", {}).then(function (payment) {
      if (payment.status === "succeeded") { walletState(payment); return; }
      if (sale.wallet && sale.wallet.intent_id === intentId) sale.wallet = null;
      if (pollTimer) { window.clearTimeout(pollTimer); pollTimer = null; }
      say("Wallet payment cancelled.", "info");
      changed();
    }, function (err) { say(err.message, "error"); });
  }

  // --- finishing a sale ----------------------------------------------------------------------------

  function saleBody(tenders) {
    return {
      sale_id: sale.id, register_id: register().id, member_ref: sale.member ? sale.member.member_ref : null,
      lines: sale.lines.map(function (l) { return { gtin: l.gtin, quantity: l.qty }; }),
      tenders: tenders.map(function (t) {
        var out = { kind: t.kind, amount_minor: t.amount_minor };
        if (t.kind === "wallet") out.payment_intent_id = t.ref;
        if (t.kind === "points") out.hold_id = t.ref;
        return out;
      }),
      sold_at: nowIso(),
    };
  }

  function finish(tenders) {
    if (busy) return;
    // The body is made once: a retry, here or from the queue, sends exactly the same sale.
    var body = sale.pending || saleBody(tenders);
    sale.pending = body;
    save();
    var change = body.tenders.reduce(function (s, t) { return s + t.amount_minor; }, 0) - total();
    var queue = function () {
      return enqueue({ sale_id: body.sale_id, body: body, queued_at: Date.now(), status: "queued", error: null })
        .then(function () { done(null, change); showConnection(); }, function () {
          sale.pending = null; save(); render();
          say("The till is offline and cannot keep the sale (this browser blocks its storage); take it when the connection is back.", "error");
        });
    };
    if (!navigator.onLine) { queue(); return; }
    busy = true; render();
    post("/store/pos/sales", body).then(function (receipt) {
      busy = false;
      done(receipt, receipt.change_minor);
    }, function (err) {
      busy = false;
      if (err instanceof Offline) { queue(); return; }
      sale.pending = null;
      save();
      say("The sale was not recorded: " + err.message, "error");
      render();
    });
  }

  function done(receipt, change) {
    var changeText = change > 0 ? "Change " + fmt(change) + ". " : "";
    sale = newSale();
    closePanel();
    changed();
    var last = $("pos-last");
    last.hidden = false;
    if (receipt) {
      $("pos-last-heading").textContent = "Sale complete";
      $("pos-last-text").textContent = changeText + "Receipt " + receipt.receipt_number + " · " + fmt(receipt.total_minor) + ".";
      $("pos-last-receipt").href = receipt.receipt_url;
      $("pos-last-receipt").hidden = false;
    } else {
      $("pos-last-heading").textContent = "Sale queued";
      $("pos-last-text").textContent = changeText + "The till is offline: the sale is kept here and sent when the connection is back.";
      $("pos-last-receipt").hidden = true;
    }
    say((receipt ? "Sale complete. " : "Sale queued. ") + changeText, "ok");
    $("pos-scan").focus();
  }

  function cancelSale() {
    var holds = sale.tenders.filter(function (t) { return t.kind === "points"; });
    var wallet = sale.tenders.filter(function (t) { return t.kind === "wallet"; });
    if (sale.wallet) cancelWallet();
    holds.forEach(function (t) {
      if (navigator.onLine) post("/store/pos/points-holds/" + encodeURIComponent(t.ref) + "/void", {}).catch(function () {});
    });
    sale = newSale();
    closePanel();
    changed();
    say(wallet.length ? "Sale cancelled. Refund the wallet payment of " + fmt(wallet[0].amount_minor) +
      " from the dashboard (payment " + wallet[0].ref + ")." : "Sale cancelled.", wallet.length ? "error" : "info");
    $("pos-scan").focus();
  }

  // --- drawing -------------------------------------------------------------------------------------

  function button(text, cls, onClick, label) {
    var b = document.createElement("button");
    b.type = "button"; b.className = cls; b.textContent = text;
    if (label) b.setAttribute("aria-label", label);
    b.addEventListener("click", onClick);
    return b;
  }

  function cell(text, cls) {
    var td = document.createElement("td");
    if (cls) td.className = cls;
    if (text !== undefined) td.textContent = text;
    return td;
  }

  function drawLines() {
    var body = $("pos-lines");
    body.textContent = "";
    var isLocked = locked();
    sale.lines.forEach(function (line) {
      var tr = document.createElement("tr");
      var title = cell(line.title);
      var gtin = document.createElement("span");
      gtin.className = "pos-gtin"; gtin.textContent = line.gtin;
      title.appendChild(gtin);
      tr.appendChild(title);
      tr.appendChild(cell(fmt(line.unit), "num"));
      var qtyCell = cell(undefined, "num");
      var qty = document.createElement("input");
      qty.type = "number"; qty.min = "1"; qty.max = "10000"; qty.step = "1"; qty.value = String(line.qty);
      qty.className = "pos-qty"; qty.disabled = isLocked;
      qty.setAttribute("aria-label", "Quantity of " + line.title);
      qty.addEventListener("change", function () {
        var n = parseInt(qty.value, 10);
        if (!(n >= 1 && n <= 10000)) { qty.value = String(line.qty); say("A quantity is a whole number from 1 to 10,000.", "error"); return; }
        line.qty = n; changed();
      });
      qty.addEventListener("keydown", function (e) { if (e.key === "Enter") { e.preventDefault(); qty.blur(); $("pos-scan").focus(); } });
      qtyCell.appendChild(qty);
      tr.appendChild(qtyCell);
      tr.appendChild(cell(fmt(line.unit * line.qty), "num"));
      var removeCell = cell(undefined, "pos-remove");
      var remove = button("", "secondary small", function () {
        sale.lines = sale.lines.filter(function (l) { return l !== line; });
        say(line.title + " removed.", "info");
        changed();
        $("pos-scan").focus();
      }, "Remove " + line.title);
      remove.innerHTML = '<span class="pos-x" aria-hidden="true">✕</span><span class="pos-remove-label">Remove</span>';
      remove.disabled = isLocked;
      removeCell.appendChild(remove);
      tr.appendChild(removeCell);
      body.appendChild(tr);
    });
    var items = sale.lines.reduce(function (n, l) { return n + l.qty; }, 0);
    $("pos-empty").hidden = sale.lines.length > 0;
    $("pos-count").textContent = items ? plural(items, "item", "items") : "No items";
    $("pos-total").textContent = fmt(total());
  }

  function drawMember() {
    var m = sale.member;
    $("pos-member-none").hidden = !!m;
    $("pos-member-card").hidden = !m;
    $("pos-member-code").disabled = busy || !navigator.onLine;
    if (!m) return;
    $("pos-member-name").textContent = m.name || "Member (name not shared)";
    var list = $("pos-member-balances");
    list.textContent = "";
    m.balances.forEach(function (b) {
      var li = document.createElement("li");
      li.textContent = b.programme_name + ": " + b.available.toLocaleString("en-US") + " points (" + fmt(b.value_minor) + ")";
      list.appendChild(li);
    });
    if (!m.balances.length) list.appendChild(document.createTextNode("No points that pay here yet."));
  }

  function drawTenders() {
    var list = $("pos-tenders");
    list.textContent = "";
    sale.tenders.forEach(function (t) {
      var li = document.createElement("li");
      var name = document.createElement("span");
      name.textContent = t.kind === "points" ? "Points · " + t.points.toLocaleString("en-US") + " points" : "Wallet";
      var amount = document.createElement("span");
      amount.className = "num"; amount.textContent = fmt(t.amount_minor);
      li.appendChild(name); li.appendChild(amount);
      if (t.kind === "points") li.appendChild(button("Undo", "secondary small", function () { removePoints(t); }, "Give the points back"));
      list.appendChild(li);
    });
    $("pos-sum-total").textContent = fmt(total());
    $("pos-sum-paid").textContent = fmt(paid());
    $("pos-sum-due").textContent = fmt(due());

    var online = navigator.onLine;
    var nothingDue = sale.lines.length === 0 || due() === 0;
    var hasPoints = !!sale.member && sale.member.balances.some(function (b) { return b.value_minor > 0; });
    var blocked = { cash: nothingDue, points: nothingDue || !online || !hasPoints, qr: nothingDue || !online, code: nothingDue || !online };
    document.querySelectorAll("[data-tender]").forEach(function (b) {
      var kind = b.getAttribute("data-tender");
      b.disabled = busy || !!sale.wallet || !!sale.pending || blocked[kind];
      b.setAttribute("aria-pressed", String(openPanel === kind));
    });
    var notes = [];
    if (!online) notes.push("Offline: wallet and points payments need the connection. Cash sales are kept on this till and sent when it is back.");
    else if (sale.lines.length && !sale.member) notes.push("Points: scan the member's code to pay with her points.");
    $("pos-tender-note").textContent = notes.join(" ");
    $("pos-tender-note").hidden = notes.length === 0;
    $("pos-tender-note").setAttribute("data-tone", online ? "info" : "warn");
    if (openPanel && blocked[openPanel]) closePanel();

    var box = $("pos-wallet");
    box.hidden = !sale.wallet;
    if (sale.wallet) {
      $("pos-wallet-qr").hidden = sale.wallet.flow !== "merchant_qr";
      $("pos-wallet-link").hidden = sale.wallet.flow !== "merchant_qr";
      if (sale.wallet.pay_url) $("pos-wallet-link").href = sale.wallet.pay_url;
      $("pos-wallet-status").lastChild.textContent = sale.wallet.flow === "merchant_qr"
        ? " Waiting for the shopper to scan and pay " + fmt(sale.wallet.amount_minor) + "…"
        : " Waiting for the shopper to confirm " + fmt(sale.wallet.amount_minor) + " in her wallet…";
    }
    $("pos-cancel").disabled = busy || (sale.lines.length === 0 && !sale.member);
  }

  function render() {
    drawLines();
    drawMember();
    drawTenders();
    $("pos-register").disabled = sale.lines.length > 0;
  }

  function changed() { save(); render(); }

  // --- panels --------------------------------------------------------------------------------------

  function closePanel() {
    openPanel = null;
    document.querySelectorAll(".pos-panel").forEach(function (p) { p.hidden = true; });
    document.querySelectorAll("[data-tender]").forEach(function (b) { b.setAttribute("aria-pressed", "false"); });
  }

  function showPanel(kind) {
    if (openPanel === kind) { closePanel(); return; }
    closePanel();
    openPanel = kind;
    var panel = document.querySelector('.pos-panel[data-panel="' + kind + '"]');
    panel.hidden = false;
    document.querySelector('[data-tender="' + kind + '"]').setAttribute("aria-pressed", "true");
    var first;
    if (kind === "cash") { first = $("pos-cash-given"); first.value = plain(due()); updateChange(); }
    if (kind === "points") { fillProgrammes(); first = $("pos-points-amount"); }
    if (kind === "qr") { first = $("pos-qr-amount"); first.value = plain(due()); }
    if (kind === "code") { $("pos-code-amount").value = plain(due()); first = $("pos-code-value"); first.value = ""; }
    first.focus();
    if (first.select) first.select();
  }

  function fillProgrammes() {
    var select = $("pos-points-programme");
    select.textContent = "";
    sale.member.balances.filter(function (b) { return b.value_minor > 0; }).forEach(function (b) {
      var o = document.createElement("option");
      o.value = b.programme_id; o.textContent = b.programme_name;
      select.appendChild(o);
    });
    pointsInfo(true);
  }

  function selectedBalance() {
    var id = $("pos-points-programme").value;
    return sale.member.balances.filter(function (b) { return b.programme_id === id; })[0];
  }

  function pointsInfo(prefill) {
    var b = selectedBalance();
    if (!b) return;
    if (prefill) $("pos-points-amount").value = plain(Math.min(due(), b.value_minor));
    $("pos-points-info").textContent = "Available: " + b.available.toLocaleString("en-US") + " points, worth " + fmt(b.value_minor) + ".";
  }

  function updateChange() {
    var given = parseMoney($("pos-cash-given").value);
    $("pos-cash-change").textContent = given === null ? "—" : fmt(Math.max(given - due(), 0));
  }

  function amountFrom(input, limit, what) {
    var amount = parseMoney(input.value);
    if (amount === null || amount <= 0) { say("Enter the amount " + what + ", such as " + plain(limit) + ".", "error"); input.focus(); return null; }
    if (amount > limit) { say("That is more than the " + fmt(limit) + " still due.", "error"); input.focus(); return null; }
    return amount;
  }

  // --- wiring --------------------------------------------------------------------------------------

  function onSubmit(id, handler) {
    $(id).addEventListener("submit", function (e) { e.preventDefault(); if (!busy) handler(); });
  }

  onSubmit("pos-scan-form", function () {
    var input = $("pos-scan");
    var value = input.value;
    input.value = "";
    onScan(value);
    input.focus();
  });
  onSubmit("pos-member-form", function () {
    var code = $("pos-member-code").value.replace(/[\s-]/g, "").toUpperCase();
    if (!code) { say("Scan or type the member code shown on her phone.", "error"); return; }
    attachMember(code);
  });
  $("pos-member-remove").addEventListener("click", function () {
    if (sale.tenders.some(function (t) { return t.kind === "points"; })) { say("Give the points back first (Undo), then remove the member.", "error"); return; }
    sale.member = null; say("Member removed from this sale.", "info"); changed(); $("pos-scan").focus();
  });
  document.querySelectorAll("[data-tender]").forEach(function (b) {
    b.addEventListener("click", function () { showPanel(b.getAttribute("data-tender")); });
  });
  $("pos-cash-given").addEventListener("input", updateChange);
  onSubmit("pos-pay-cash", function () {
    var given = parseMoney($("pos-cash-given").value);
    if (given === null || given < due()) { say("The cash given must cover the " + fmt(due()) + " still due.", "error"); return; }
    closePanel();
    finish(sale.tenders.concat([{ kind: "cash", amount_minor: given }]));
  });
  $("pos-points-programme").addEventListener("change", function () { pointsInfo(true); });
  onSubmit("pos-pay-points", function () {
    var b = selectedBalance();
    var amount = amountFrom($("pos-points-amount"), Math.min(due(), b ? b.value_minor : 0), "to pay with points");
    if (amount !== null) holdPoints(b.programme_id, amount);
  });
  onSubmit("pos-pay-qr", function () {
    var amount = amountFrom($("pos-qr-amount"), due(), "to pay by wallet");
    if (amount !== null) startWallet("merchant_qr", amount);
  });
  onSubmit("pos-pay-code", function () {
    var amount = amountFrom($("pos-code-amount"), due(), "to pay by wallet");
    var code = $("pos-code-value").value.replace(/\s/g, "");
    if (amount === null) return;
    if (!/^[0-9]{10,32}$/.test(code)) { say("Scan the payment code in the shopper's wallet app (digits only).", "error"); $("pos-code-value").focus(); return; }
    startWallet("payment_code", amount, code);
  });
  $("pos-wallet-cancel").addEventListener("click", cancelWallet);
  $("pos-cancel").addEventListener("click", cancelSale);

  var registerSelect = $("pos-register");
  var remembered = localStorage.getItem(REGISTER_KEY);
  var known = config.registers.map(function (r) { return r.id; });
  var firstCounter = config.registers.filter(function (r) { return r.kind === "counter"; })[0];
  if (remembered && known.indexOf(remembered) >= 0) registerSelect.value = remembered;
  else if (firstCounter) registerSelect.value = firstCounter.id;
  registerSelect.addEventListener("change", function () {
    localStorage.setItem(REGISTER_KEY, registerSelect.value);
    say("This till is now " + register().name + ".", "info");
  });
  if (!remembered && registerSelect.value) localStorage.setItem(REGISTER_KEY, registerSelect.value);

  // A barcode scanner types wherever the focus is: send stray keystrokes to the scan field.
  document.addEventListener("keydown", function (e) {
    var t = e.target;
    if (e.ctrlKey || e.metaKey || e.altKey || e.key.length !== 1 || e.key === " ") return;
    if (t && /^(INPUT|SELECT|TEXTAREA)$/.test(t.tagName)) return;
    $("pos-scan").focus();
  });

  window.addEventListener("online", function () { render(); sync(); });
  window.addEventListener("offline", function () { render(); showConnection(); });
  window.setInterval(function () { if (navigator.onLine) sync(); }, 15000);

  // A sale interrupted by a reload: its recording is resent as is, a wallet payment polled again.
  if (sale.pending) finish([]);
  if (sale.wallet) pollWallet();
  render();
  showConnection().then(sync);
  $("pos-scan").focus();
})();
