// xieshang's page: one question at a time, then the today card, the plan and the documents.
// Everything the person answers lives in this page's memory only: no cookie, no localStorage,
// nothing sent except to this server's API, which keeps nothing. Text from the server is always
// placed with textContent, never as markup.
"use strict";

(function () {
  const UI = {
    "zh-CN": {
      title: "一步一步，先把今天要做的事理清楚",
      brand: "逾期了怎么办",
      skip: "跳到正文",
      privacy: "你的回答只留在这个页面里：不用登录，不存 Cookie，服务器不保存也不记录你的情况。关掉页面或点“清除全部”，就都没了。",
      next: "下一步",
      skip_question: "不知道，跳过",
      back: "上一步",
      advice_now: "现在就看建议",
      change: "修改回答",
      clear: "清除全部",
      docs_title: "拿去用",
      footer: "xieshang（协商）是开源软件。",
      note: "建议来自公开的规则，是一般性建议，不是法律意见。",
      progress: "第 {n} 个问题（已回答 {answered} 个，最多还有 {left} 个）",
      yes: "是",
      no: "否",
      required: "这个问题需要回答才能给出建议。",
      number: "请填一个不小于 0 的数字，或者点“不知道，跳过”。",
      text: "请填写，或者点“不知道，跳过”。",
      need_loan: "先选一下是哪笔欠款，才能给出建议。",
      integer: "请填一个不小于 0 的整数，或者点“不知道，跳过”。",
      date: "请选一个日期，或者点“不知道，跳过”。",
      choose: "请选一项，或者点“不知道，跳过”。",
      working: "正在生成建议……",
      failed: "出错了：",
      offline: "连不上服务器，请稍后再试。你的回答还在这个页面里。",
      why: "原因",
      summary: "概况",
      total: "看全部 {count} 条建议",
      left_out: "未列出",
      cleared: "已清除。你的回答都已删掉。",
      yuan: "元",
      switch_to: "English",
      switch_lang: "en",
    },
    en: {
      title: "One step at a time: what to do today",
      brand: "Behind on a loan?",
      skip: "Skip to content",
      privacy: "Your answers stay in this page only: no login, no cookies, and the server neither keeps nor logs your situation. Close the page or press “Clear everything” and they are gone.",
      next: "Next",
      skip_question: "I don't know, skip",
      back: "Back",
      advice_now: "Show the advice now",
      change: "Change my answers",
      clear: "Clear everything",
      docs_title: "Take with you",
      footer: "xieshang (协商) is open-source software.",
      note: "The advice comes from published rules: general guidance, not legal advice.",
      progress: "Question {n} ({answered} answered, at most {left} to go)",
      yes: "Yes",
      no: "No",
      required: "This question needs an answer before there can be advice.",
      number: "Enter a number, 0 or more, or press “I don't know, skip”.",
      text: "Type an answer, or press “I don't know, skip”.",
      need_loan: "Choose which debt this is about first; then there can be advice.",
      integer: "Enter a whole number, 0 or more, or press “I don't know, skip”.",
      date: "Choose a date, or press “I don't know, skip”.",
      choose: "Choose one, or press “I don't know, skip”.",
      working: "Preparing your advice…",
      failed: "Something went wrong: ",
      offline: "The server cannot be reached; please try again. Your answers are still in this page.",
      why: "Why",
      summary: "Summary",
      total: "See all {count} recommendations",
      left_out: "Left out",
      cleared: "Cleared. Your answers are deleted.",
      yuan: "yuan",
      switch_to: "中文",
      switch_lang: "zh-CN",
    },
  };

  // The documents a person takes away, in this order: the call script for each loan, the
  // printable plan, the calendar (POST /v1/documents makes them all; each is saved as a file).
  const DOCS = [
    { name: "call_script", ext: ["html", "md"], zh: "打电话前看：沟通话术", en: "Before you call: the call script" },
    { name: "plan", ext: ["html", "md"], zh: "可打印的还款计划", en: "The printable plan" },
    { name: "calendar", ext: ["ics"], zh: "日历提醒（导入手机日历）", en: "Calendar reminders (for your phone's calendar)" },
  ];

  // --- state: in memory only ---------------------------------------------------------------------
  let locale = "zh-CN";
  let partial = newSituation(); // the situation so far (SPEC §2; absent means unknown)
  let declined = []; // question paths answered "I don't know": never asked again
  let steps = []; // [{path, before, declined}] to go back one answer at a time
  let question = null; // the question on screen
  let docUrls = [];
  let loanNames = {}; // loan id -> the name the person chose it by

  const $ = (id) => document.getElementById(id);
  const t = (key) => UI[locale][key];

  function newSituation() {
    return { schema_version: 1 };
  }

  // "loans[0].status.legal" -> ["loans", 0, "status", "legal"]
  function parts(path) {
    const out = [];
    for (const piece of path.split(".")) {
      const match = /^([A-Za-z_]+)\[(\d+)\]$/.exec(piece);
      if (match) out.push(match[1], Number(match[2]));
      else out.push(piece);
    }
    return out;
  }

  function valueAt(obj, path) {
    let node = obj;
    for (const key of parts(path)) {
      if (node === undefined || node === null) return undefined;
      node = node[key];
    }
    return node === null ? undefined : node;
  }

  function withValue(obj, path, value) {
    const copy = JSON.parse(JSON.stringify(obj));
    const keys = parts(path);
    let node = copy;
    for (let i = 0; i < keys.length - 1; i++) {
      if (node[keys[i]] === undefined) node[keys[i]] = typeof keys[i + 1] === "number" ? [] : {};
      node = node[keys[i]];
    }
    const last = keys[keys.length - 1];
    if (value === undefined) delete node[last];
    else node[last] = value;
    return copy;
  }

  // The loans answer: kinds -> loans with ids made from them (jiebei, credit_card-2).
  function loansOf(kinds) {
    const seen = {};
    return kinds.map((kind) => {
      seen[kind] = (seen[kind] || 0) + 1;
      return { id: seen[kind] === 1 ? kind : `${kind}-${seen[kind]}`, product: kind };
    });
  }

  function situation() {
    return { ...partial, locale: locale };
  }

  // --- static text ---------------------------------------------------------------------------------
  function applyLanguage() {
    document.documentElement.lang = locale;
    document.title = locale === "en" ? "xieshang · Behind on a loan?" : "协商 · 逾期了怎么办";
    document.querySelectorAll("[data-t]").forEach((el) => { el.textContent = t(el.dataset.t); });
    const sw = $("lang-switch");
    sw.textContent = t("switch_to");
    sw.lang = t("switch_lang");
  }

  // --- questions -------------------------------------------------------------------------------
  // The next question: the server's interview asks only what can still change the advice.
  // None left: the advice.
  async function ask() {
    $("question-error").textContent = "";
    let response;
    try {
      response = await post("/v1/interview/next?limit=1", { situation: partial, declined: declined, locale: locale });
    } catch (e) {
      $("status").textContent = t("offline");
      return;
    }
    if (!response.ok) {
      const problem = await problemText(response);
      if (!steps.length) {
        $("status").textContent = t("failed") + problem;
        return;
      }
      undo(); // the last answer was refused: ask it again, saying why
      await ask();
      $("question-error").textContent = problem;
      return;
    }
    const body = await response.json();
    if (body.done || !body.questions.length) {
      await advise();
      return;
    }
    show(body.questions[0], body.progress);
  }

  function show(q, progress) {
    if (q.type === "boolean" && !(q.choices && q.choices.length)) {
      q = { ...q, choices: [{ value: true, label: t("yes") }, { value: false, label: t("no") }] };
    }
    question = q;
    $("question-fieldset").dataset.path = q.path; // what is being asked, for tests and tools
    $("question-fieldset").dataset.type = q.type;
    $("result").hidden = true;
    $("ask").hidden = false;
    $("progress").textContent = t("progress")
      .replace("{n}", String(steps.length + 1))
      .replace("{answered}", String(progress.answered))
      .replace("{left}", String(progress.remaining_at_most));
    $("question-title").textContent = q.text;
    $("question-help").textContent = q.help || "";
    $("skip").hidden = q.type === "loans"; // without a loan there is no advice
    $("back").hidden = steps.length === 0;
    const box = $("question-input");
    box.replaceChildren();
    const previous = valueAt(partial, q.path);
    if (q.choices && q.choices.length) {
      const many = q.type === "choices" || q.type === "loans";
      const group = document.createElement("div");
      group.setAttribute("role", many ? "group" : "radiogroup");
      group.setAttribute("aria-labelledby", "question-title");
      q.choices.forEach((choice, n) => {
        const id = `answer-${n}`;
        const row = document.createElement("div");
        row.className = "choice";
        const input = document.createElement("input");
        input.type = many ? "checkbox" : "radio";
        input.name = "answer";
        input.id = id;
        input.value = JSON.stringify(choice.value);
        input.checked = many ? Array.isArray(previous) && previous.includes(choice.value) : previous === choice.value;
        const lab = document.createElement("label");
        lab.htmlFor = id;
        lab.textContent = choice.label;
        row.append(input, lab);
        group.append(row);
      });
      box.append(group);
    } else {
      const input = document.createElement("input");
      input.id = "answer";
      input.name = "answer";
      input.type = q.type === "date" ? "date" : "text";
      if (["money", "integer", "percent"].includes(q.type)) input.inputMode = q.type === "integer" ? "numeric" : "decimal";
      input.autocomplete = "off";
      input.setAttribute("aria-labelledby", "question-title");
      input.setAttribute("aria-describedby", "question-help question-error");
      if (previous !== undefined) input.value = String(q.type === "percent" ? Math.round(previous * 1e6) / 1e4 : previous);
      box.append(input);
      const units = { money: t("yuan"), percent: "%" };
      if (units[q.type]) {
        const unit = document.createElement("span");
        unit.className = "unit";
        unit.textContent = units[q.type];
        box.append(unit);
      }
    }
    $("question-title").focus();
  }

  function readAnswer(q) {
    if (q.choices && q.choices.length) {
      const checked = [...document.querySelectorAll('input[name="answer"]:checked')].map((i) => JSON.parse(i.value));
      if (q.type === "loans") return checked.length ? { value: checked } : { error: t("required") };
      if (q.type === "choices") return { value: checked };
      return checked.length ? { value: checked[0] } : { error: t("choose") };
    }
    const raw = $("answer").value.trim();
    if (q.type === "date") {
      return /^\d{4}-\d{2}-\d{2}$/.test(raw) ? { value: raw } : { error: t("date") };
    }
    if (q.type === "text") return raw ? { value: raw } : { error: t("text") };
    const plain = raw.replace(/[,，\s¥￥%元]/g, "");
    const pattern = q.type === "integer" ? /^\d{1,6}$/ : /^\d{1,12}(\.\d{1,4})?$/;
    if (!pattern.test(plain)) return { error: t(q.type === "integer" ? "integer" : "number") };
    const number = Number(plain);
    return { value: q.type === "percent" ? Math.round(number * 1e4) / 1e6 : number };
  }

  function record(path, value, isDeclined) {
    steps.push({ path: path, before: valueAt(partial, path), declined: isDeclined });
    if (isDeclined) declined = [...declined, path];
    else if (path === "loans") {
      partial = { ...partial, loans: loansOf(value) };
      loanNames = {}; // a loan as the person named it, never by its id (SPEC 7.3)
      const labels = Object.fromEntries(question.choices.map((c) => [c.value, c.label]));
      const count = {};
      for (const loan of partial.loans) {
        count[loan.product] = (count[loan.product] || 0) + 1;
        loanNames[loan.id] = labels[loan.product] + (count[loan.product] > 1 ? ` (${count[loan.product]})` : "");
      }
    } else partial = withValue(partial, path, value);
  }

  function undo() {
    const step = steps.pop();
    if (!step) return;
    if (step.declined) declined = declined.filter((p) => p !== step.path);
    else partial = withValue(partial, step.path, step.before);
  }

  async function answer(event) {
    event.preventDefault();
    const got = readAnswer(question);
    if (got.error) {
      $("question-error").textContent = got.error;
      return;
    }
    $("status").textContent = "";
    record(question.path, got.value, false);
    await ask();
  }

  async function skip() {
    $("status").textContent = "";
    record(question.path, undefined, true);
    await ask();
  }

  async function back() {
    undo();
    await ask();
  }

  // --- advice ------------------------------------------------------------------------------------
  async function post(path, body) {
    return fetch(path, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
      credentials: "omit",
      cache: "no-store",
    });
  }

  async function problemText(response) {
    try {
      const problem = await response.json();
      return problem.detail || problem.title || String(response.status);
    } catch (e) {
      return String(response.status);
    }
  }

  async function advise() {
    if (!Array.isArray(partial.loans) || !partial.loans.length) { // no loan, no advice: ask
      $("question-error").textContent = t("need_loan");
      return;
    }
    $("status").textContent = t("working");
    let response;
    try {
      response = await post(`/v1/advise?format=card&lang=${encodeURIComponent(locale)}`, situation());
    } catch (e) {
      $("status").textContent = t("offline");
      return;
    }
    if (!response.ok) {
      $("status").textContent = t("failed") + (await problemText(response));
      return;
    }
    $("status").textContent = "";
    renderCard(await response.json());
    await prepareDocuments();
  }

  function el(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined) node.textContent = text;
    if (className) node.className = className;
    return node;
  }

  function renderCard(card) {
    $("ask").hidden = true;
    $("result").hidden = false;
    $("result-title").textContent = card.heading;
    $("result-rules").textContent = card.rules;
    const box = $("card");
    box.replaceChildren();
    const today = el("section", undefined, card.crisis ? "today crisis" : "today");
    today.setAttribute("aria-labelledby", "today-title");
    const h = el("h3", card.today_heading);
    h.id = "today-title";
    today.append(h);
    if (card.nothing) today.append(el("p", card.nothing));
    const list = el("ol", undefined, "today-list");
    for (const item of card.today) {
      const li = el("li", undefined, "rec");
      li.append(el("h4", item.title), el("p", item.tag, "tag"));
      for (const line of item.message) li.append(el("p", line, "message"));
      li.append(el("p", `${t("why")}: ${item.why.join("；")}`, "why"));
      list.append(li);
    }
    today.append(list);
    box.append(today);
    if (card.later.length) {
      const later = el("section", undefined, "later");
      later.append(el("h3", card.later_heading));
      const ol = el("ol");
      ol.start = card.today.length + 1;
      for (const item of card.later) {
        const li = el("li");
        li.append(el("span", item.title), el("span", ` · ${item.tag}`, "tag"));
        ol.append(li);
      }
      later.append(ol);
      box.append(later);
    }
    if (card.total > card.today.length) {
      const all = el("details", undefined, "all");
      all.id = "all-recommendations";
      all.append(el("summary", t("total").replace("{count}", String(card.total))));
      all.addEventListener("toggle", () => { if (all.open) showAll(all); });
      box.append(all);
    }
    if (card.plan.length) {
      const plan = el("section", undefined, "plan");
      plan.append(el("h3", card.plan_heading));
      const ul = el("ul");
      for (const line of card.plan) ul.append(el("li", line));
      plan.append(ul);
      box.append(plan);
    }
    if (card.summary.length) {
      const details = el("details", undefined, "summary");
      details.append(el("summary", t("summary")));
      const ul = el("ul");
      for (const line of card.summary) ul.append(el("li", line));
      details.append(ul);
      box.append(details);
    }
    box.append(el("p", card.footer, "footer-note"));
    $("result-title").focus();
  }

  // Every recommendation in full (the advice JSON, as `xieshang advise --format json`).
  async function showAll(details) {
    if (details.querySelector("ol")) return;
    let response;
    try {
      response = await post(`/v1/advise?lang=${encodeURIComponent(locale)}`, situation());
    } catch (e) {
      details.append(el("p", t("offline"), "error"));
      return;
    }
    if (!response.ok) {
      details.append(el("p", t("failed") + (await problemText(response)), "error"));
      return;
    }
    const advice = await response.json();
    const ol = el("ol", undefined, "all-list");
    for (const rec of advice.recommendations) {
      const li = el("li", undefined, "rec");
      li.append(el("h4", rec.title));
      for (const line of rec.message.split("\n")) li.append(el("p", line, "message"));
      ol.append(li);
    }
    details.append(ol);
  }

  async function prepareDocuments() {
    $("docs").dataset.ready = "false"; // "true" once the links (or why there are none) show
    try {
      await documentLinks();
    } finally {
      $("docs").dataset.ready = "true";
    }
  }

  async function documentLinks() {
    for (const url of docUrls) URL.revokeObjectURL(url);
    docUrls = [];
    const links = $("doc-links");
    links.replaceChildren();
    $("docs-note").textContent = "";
    let response;
    try {
      response = await post(`/v1/documents?lang=${encodeURIComponent(locale)}`, situation());
    } catch (e) {
      $("docs-note").textContent = t("offline");
      return;
    }
    if (!response.ok) {
      $("docs-note").textContent = t("failed") + (await problemText(response));
      return;
    }
    const made = (await response.json()).documents;
    for (const doc of DOCS) {
      const files = made.filter((d) => d.name === doc.name);
      const ext = doc.ext.find((e) => files.some((d) => d.filename.endsWith(`.${e}`)));
      for (const file of files.filter((d) => ext && d.filename.endsWith(`.${ext}`))) {
        const url = URL.createObjectURL(new Blob([file.content], { type: file.media_type }));
        docUrls.push(url);
        const loan = file.loan_id ? ` · ${loanNames[file.loan_id] || file.loan_id}` : "";
        const label = (locale === "en" ? doc.en : doc.zh) + loan;
        const a = el("a", label);
        a.href = url;
        a.download = file.filename;
        const li = el("li");
        li.append(a);
        links.append(li);
      }
    }
  }

  // --- language, change, clear -----------------------------------------------------------------
  async function switchLanguage() {
    locale = locale === "en" ? "zh-CN" : "en";
    applyLanguage();
    if (!$("result").hidden) await advise();
    else await ask(); // the same question, in the other language
  }

  async function change() { // back to the last answer; "Back" goes on from there
    undo();
    await ask();
  }

  async function clearAll() {
    partial = newSituation();
    loanNames = {};
    declined = [];
    steps = [];
    for (const url of docUrls) URL.revokeObjectURL(url);
    docUrls = [];
    $("card").replaceChildren();
    $("doc-links").replaceChildren();
    $("docs-note").textContent = "";
    await ask();
    $("status").textContent = t("cleared");
  }

  document.addEventListener("DOMContentLoaded", () => {
    applyLanguage();
    $("question-form").addEventListener("submit", answer);
    $("skip").addEventListener("click", skip);
    $("back").addEventListener("click", back);
    $("advice-now").addEventListener("click", advise);
    $("lang-switch").addEventListener("click", switchLanguage);
    $("change").addEventListener("click", change);
    $("clear").addEventListener("click", clearAll);
    ask();
  });
})();
