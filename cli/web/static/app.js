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
      progress: "第 {n} 个问题（已回答 {answered} 个）",
      yes: "是",
      no: "否",
      required: "这个问题需要回答才能给出建议。",
      number: "请填一个不小于 0 的数字（元），或者点“不知道，跳过”。",
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
      doc_unavailable: "这个版本还不能生成话术和计划文件。",
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
      progress: "Question {n} ({answered} answered)",
      yes: "Yes",
      no: "No",
      required: "This question needs an answer before there can be advice.",
      number: "Enter a number of yuan, 0 or more, or press “I don't know, skip”.",
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
      doc_unavailable: "This version cannot make the call script and plan files yet.",
      cleared: "Cleared. Your answers are deleted.",
      yuan: "yuan",
      switch_to: "中文",
      switch_lang: "zh-CN",
    },
  };

  // The key questions, asked one at a time. Each sets one field of the situation (SPEC §2).
  const QUESTIONS = [
    {
      path: ["borrower", "distress"], type: "boolean", optional: true,
      text: { "zh-CN": "这段时间，你有没有觉得撑不下去，甚至想伤害自己？", en: "Lately, have you felt you cannot go on, or thought of harming yourself?" },
      help: { "zh-CN": "这个问题可以不答。如果是，我们会先告诉你现在就能找谁帮忙。", en: "You may skip this. If yes, we first show who can help you right now." },
    },
    {
      path: ["loans", 0, "product"], type: "choice", optional: false,
      text: { "zh-CN": "逾期（或快要还不上）的是哪种借款？", en: "Which kind of credit is overdue, or about to be?" },
      help: { "zh-CN": "有好几笔的话，先选最着急的一笔。", en: "If there are several, choose the most pressing one." },
      choices: [
        ["jiebei", "借呗", "借呗 (Jiebei)"],
        ["huabei", "花呗", "花呗 (Huabei)"],
        ["credit_card", "信用卡", "Credit card"],
        ["bank_consumer_loan", "银行消费贷", "Bank consumer loan"],
        ["weilidai", "微粒贷", "微粒贷 (Weilidai)"],
        ["other_online_loan", "其他网贷", "Another online loan"],
      ],
    },
    {
      path: ["loans", 0, "days_overdue"], type: "integer", optional: true,
      text: { "zh-CN": "已经逾期多少天了？还没逾期就填 0。", en: "How many days overdue is it? Enter 0 if it is not overdue yet." },
      help: { "zh-CN": "在 App 的账单里能看到。", en: "The app's bill shows it." },
    },
    {
      path: ["loans", 0, "overdue_amount"], type: "number", optional: true,
      text: { "zh-CN": "逾期的金额是多少元？", en: "How much is overdue, in yuan?" },
      help: { "zh-CN": "只填已经过了还款日、还没还上的部分。", en: "Only the part past its due date and not yet paid." },
    },
    {
      path: ["loans", 0, "outstanding_balance"], type: "number", optional: true,
      text: { "zh-CN": "这笔借款现在一共还欠多少元？", en: "How much is owed on this loan in total now, in yuan?" },
      help: { "zh-CN": "包括还没到期的部分。", en: "Including what is not due yet." },
    },
    {
      path: ["loans", 0, "status", "legal"], type: "choice", optional: true,
      text: { "zh-CN": "有没有收到法院或调解的通知？", en: "Have you received anything from a court or a mediation centre?" },
      help: { "zh-CN": "只算法院、调解中心的正式文书；催收说“要起诉”不算。", en: "Only formal papers from a court or mediation centre; a collector saying “we will sue” does not count." },
      choices: [
        ["none", "没有", "No"],
        ["pre_suit_mediation", "诉前调解通知", "Pre-suit mediation notice"],
        ["lawsuit_notice", "法院的起诉材料或传票", "Court summons or lawsuit papers"],
        ["payment_order", "支付令", "Payment order (支付令)"],
        ["judgment", "判决书", "A judgment"],
        ["enforcement", "强制执行", "Enforcement"],
      ],
    },
    {
      path: ["loans", 0, "status", "legal_notice_date"], type: "date", optional: true,
      when: (s) => { const legal = get(s, ["loans", 0, "status", "legal"]); return legal !== undefined && legal !== "none"; },
      text: { "zh-CN": "最近一份法院或调解文书是哪天收到的？", en: "On what date did you receive the latest court or mediation paper?" },
      help: { "zh-CN": "期限从这一天算起。", en: "Deadlines count from this day." },
    },
    {
      path: ["borrower", "monthly_income"], type: "number", optional: true,
      text: { "zh-CN": "你现在每月到手的收入大约是多少元？", en: "About how much income do you receive a month now, in yuan?" },
      help: { "zh-CN": "没有收入就填 0。", en: "Enter 0 if you have none." },
    },
    {
      path: ["borrower", "monthly_essential_expenses"], type: "number", optional: true,
      text: { "zh-CN": "每月必须的开销（房租、吃饭、看病、养家）大约多少元？", en: "About how much do essentials cost a month (rent, food, medicine, family), in yuan?" },
      help: { "zh-CN": "大概的数就行。", en: "A rough figure is fine." },
    },
    {
      path: ["contact", "contacted_lender"], type: "boolean", optional: true,
      text: { "zh-CN": "你已经联系过贷款方，说明情况了吗？", en: "Have you already contacted the lender about this?" },
      help: { "zh-CN": "", en: "" },
    },
    {
      path: ["plans", "can_pay_now"], type: "number", optional: true,
      text: { "zh-CN": "今天手头能拿出多少元来还？", en: "How much could you pay today, in yuan?" },
      help: { "zh-CN": "不要动房租、吃饭和看病的钱。没有就填 0。", en: "Do not count money for rent, food or medicine. Enter 0 if none." },
    },
  ];

  const DOCS = [
    { name: "call_script", zh: "打电话前看：沟通话术", en: "Before you call: the call script" },
    { name: "plan_html", zh: "可打印的还款计划", en: "The printable plan" },
    { name: "calendar", zh: "日历提醒（.ics）", en: "Calendar reminders (.ics)" },
  ];

  // --- state: in memory only ---------------------------------------------------------------------
  let locale = "zh-CN";
  let answers = new Map(); // question index -> value (undefined: skipped)
  let history = []; // indexes of the questions shown, in order
  let current = -1;
  let docUrls = [];

  const $ = (id) => document.getElementById(id);
  const t = (key) => UI[locale][key];

  function get(obj, path) {
    let node = obj;
    for (const key of path) {
      if (node === undefined || node === null) return undefined;
      node = node[key];
    }
    return node;
  }

  function set(obj, path, value) {
    let node = obj;
    for (let i = 0; i < path.length - 1; i++) {
      const key = path[i];
      if (node[key] === undefined) node[key] = typeof path[i + 1] === "number" ? [] : {};
      node = node[key];
    }
    node[path[path.length - 1]] = value;
  }

  function situation() {
    const s = { schema_version: 1, locale: locale, loans: [{ id: "loan1", product: "other_online_loan" }] };
    QUESTIONS.forEach((q, i) => {
      if (answers.has(i) && answers.get(i) !== undefined) set(s, q.path, answers.get(i));
    });
    return s;
  }

  function nextIndex(from) {
    const s = situation();
    for (let i = from + 1; i < QUESTIONS.length; i++) {
      const q = QUESTIONS[i];
      if (!q.when || q.when(s)) return i;
    }
    return -1;
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
  function show(index) {
    current = index;
    const q = QUESTIONS[index];
    $("result").hidden = true;
    $("ask").hidden = false;
    $("question-error").textContent = "";
    $("progress").textContent = t("progress")
      .replace("{n}", String(history.length + 1))
      .replace("{answered}", String([...answers.values()].filter((v) => v !== undefined).length));
    $("question-title").textContent = q.text[locale];
    $("question-help").textContent = q.help[locale];
    $("skip").hidden = !q.optional;
    $("back").hidden = history.length === 0;
    const box = $("question-input");
    box.replaceChildren();
    const previous = answers.get(index);
    if (q.type === "boolean" || q.type === "choice") {
      const options = q.type === "boolean"
        ? [[true, t("yes")], [false, t("no")]]
        : q.choices.map((c) => [c[0], locale === "en" ? c[2] : c[1]]);
      options.forEach(([value, label], n) => {
        const id = `answer-${n}`;
        const row = document.createElement("div");
        row.className = "choice";
        const input = document.createElement("input");
        input.type = "radio";
        input.name = "answer";
        input.id = id;
        input.value = JSON.stringify(value);
        input.checked = previous === value;
        const lab = document.createElement("label");
        lab.htmlFor = id;
        lab.textContent = label;
        row.append(input, lab);
        box.append(row);
      });
    } else {
      const input = document.createElement("input");
      input.id = "answer";
      input.name = "answer";
      input.type = q.type === "date" ? "date" : "text";
      if (q.type !== "date") input.inputMode = q.type === "integer" ? "numeric" : "decimal";
      input.autocomplete = "off";
      input.setAttribute("aria-labelledby", "question-title");
      input.setAttribute("aria-describedby", "question-help question-error");
      if (previous !== undefined) input.value = String(previous);
      box.append(input);
      if (q.type === "number") {
        const unit = document.createElement("span");
        unit.className = "unit";
        unit.textContent = t("yuan");
        box.append(unit);
      }
    }
    $("question-title").focus();
  }

  function readAnswer(q) {
    if (q.type === "boolean" || q.type === "choice") {
      const checked = document.querySelector('input[name="answer"]:checked');
      if (!checked) return { error: q.optional ? t("choose") : t("required") };
      return { value: JSON.parse(checked.value) };
    }
    const raw = $("answer").value.trim().replace(/[,，\s]/g, "");
    if (q.type === "date") {
      return /^\d{4}-\d{2}-\d{2}$/.test(raw) ? { value: raw } : { error: t("date") };
    }
    const pattern = q.type === "integer" ? /^\d{1,6}$/ : /^\d{1,12}(\.\d{1,2})?$/;
    if (!pattern.test(raw)) return { error: t(q.type) };
    return { value: Number(raw) };
  }

  function answer(event) {
    event.preventDefault();
    const q = QUESTIONS[current];
    const got = readAnswer(q);
    if (got.error) {
      $("question-error").textContent = got.error;
      return;
    }
    answers.set(current, got.value);
    advance();
  }

  function skip() {
    answers.set(current, undefined);
    advance();
  }

  function advance() {
    $("status").textContent = "";
    history.push(current);
    const next = nextIndex(current);
    if (next < 0) advise();
    else show(next);
  }

  function back() {
    if (history.length === 0) return;
    show(history.pop());
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
    if (!answers.has(1)) { // the kind of credit is required: ask it first
      history = [];
      show(1);
      $("question-error").textContent = t("required");
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
    for (const url of docUrls) URL.revokeObjectURL(url);
    docUrls = [];
    const links = $("doc-links");
    links.replaceChildren();
    $("docs-note").textContent = "";
    for (const doc of DOCS) {
      let response;
      try {
        response = await post(`/v1/documents?name=${doc.name}&lang=${encodeURIComponent(locale)}`, situation());
      } catch (e) {
        $("docs-note").textContent = t("offline");
        return;
      }
      if (response.status === 501 || response.status === 404) {
        $("docs-note").textContent = t("doc_unavailable");
        return;
      }
      if (!response.ok) {
        $("docs-note").textContent = t("failed") + (await problemText(response));
        return;
      }
      const blob = await response.blob();
      const url = URL.createObjectURL(blob);
      docUrls.push(url);
      const disposition = response.headers.get("content-disposition") || "";
      const match = /filename="([^"]+)"/.exec(disposition);
      const a = el("a", locale === "en" ? doc.en : doc.zh);
      a.href = url;
      a.download = match ? match[1] : doc.name;
      const li = el("li");
      li.append(a);
      links.append(li);
    }
  }

  // --- language, change, clear -----------------------------------------------------------------
  function switchLanguage() {
    locale = locale === "en" ? "zh-CN" : "en";
    applyLanguage();
    if (!$("result").hidden) advise();
    else if (current >= 0) show(current);
  }

  function change() {
    history = [];
    show(0);
  }

  function clearAll() {
    answers = new Map();
    history = [];
    for (const url of docUrls) URL.revokeObjectURL(url);
    docUrls = [];
    $("card").replaceChildren();
    $("doc-links").replaceChildren();
    $("docs-note").textContent = "";
    show(0);
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
    history = [];
    current = 0;
    show(0);
    window.scrollTo(0, 0);
  });
})();
