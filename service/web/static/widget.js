/*! Maillage — widget for partner sites. One tag:
 *
 *   <script src="https://MAILLAGE/widget.js" data-key="mk_partner_…" async></script>
 *
 * Options, all optional, as data-* attributes of that tag (or of a <maillage-widget> element):
 *   data-territory  INSEE code used when the citizen gives no commune (commune, département, R11, FR)
 *   data-kinds      resource kinds to list, comma-separated (financement,appel_a_projets,…)
 *   data-themes     themes of the portal, comma-separated (they weigh in the ranking)
 *   data-results    number of suggestions, 1 to 20 (default 5)
 *   data-color      main colour, #rrggbb (darkened if needed to keep a 4.5:1 contrast)
 *   data-title, data-intro, data-submit, data-consent   texts of the title, introduction, button, consent box
 *   data-target     CSS selector of the element to render into (default: right after the tag)
 *
 * It looks like the Système de design de l'État (DSFR) without the partner loading it: it links the
 * service's widget.css, the DSFR's components scoped to its shadow root (see service/web/dsfr.py); a
 * partner's Content-Security-Policy must allow the service in style-src and img-src (icons), as in
 * script-src and connect-src. It uses the Marianne font only when the partner's page provides it.
 *
 * The widget renders in a Shadow DOM (the host page's styles do not reach it, its styles do not leak),
 * needs no framework, calls the service that served this file, and stores nothing: no cookie, no
 * local storage. The citizen's project is kept only if they tick the consent box.
 */
(function () {
  "use strict";

  var LABELS = __MAILLAGE_LABELS__;
  var MONTHS = ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
    "novembre", "décembre"];
  var DEFAULTS = {
    title: "Trouvez un soutien public pour votre projet",
    intro: "Décrivez votre projet : nous vous indiquons les financements, appels à projets et accompagnements " +
      "de l'État et de ses partenaires qui peuvent vous correspondre, et pourquoi.",
    submit: "Voir les ressources adaptées",
    consent: "J'accepte que ma description soit transmise à l'équipe de l'accélérateur, qui pourra me " +
      "recontacter pour m'accompagner."
  };
  var DEFAULT_COLOR = "#000091"; // bleu France (Système de design de l'État)
  var BADGE = {passed: "success", failed: "error", unknown: "warning"};
  var current = document.currentScript;
  var scriptBase = current && current.src ? new URL(".", current.src).href : null;

  // --- small helpers ---------------------------------------------------------------------------

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      var value = attrs[name];
      if (value === null || value === undefined || value === false) return;
      if (name === "text") node.textContent = value;
      else node.setAttribute(name, value === true ? "" : value);
    });
    (children || []).forEach(function (child) {
      if (child !== null && child !== undefined) node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  function csv(value) {
    return (value || "").split(",").map(function (s) { return s.trim(); }).filter(Boolean);
  }

  function frenchDate(iso) {
    var p = /^(\d{4})-(\d{2})-(\d{2})/.exec(iso || "");
    if (!p) return "";
    var day = parseInt(p[3], 10);
    return (day === 1 ? "1er" : day) + " " + MONTHS[parseInt(p[2], 10) - 1] + " " + p[1];
  }

  function luminance(hex) {
    var rgb = [1, 3, 5].map(function (i) {
      var c = parseInt(hex.substr(i, 2), 16) / 255;
      return c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4);
    });
    return 0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2];
  }

  function contrast(a, b) {
    var la = luminance(a), lb = luminance(b);
    return (Math.max(la, lb) + 0.05) / (Math.min(la, lb) + 0.05);
  }

  function darken(hex, factor) {
    return "#" + [1, 3, 5].map(function (i) {
      var c = Math.round(parseInt(hex.substr(i, 2), 16) * factor);
      return ("0" + c.toString(16)).slice(-2);
    }).join("");
  }

  /** The partner's colour, darkened until white text on it (and it on white) reaches 4.5:1 (WCAG AA). */
  function accessibleColor(hex) {
    var color = /^#[0-9a-fA-F]{6}$/.test(hex || "") ? hex.toLowerCase() : DEFAULT_COLOR;
    for (var i = 0; i < 20 && contrast(color, "#ffffff") < 4.5; i++) color = darken(color, 0.9);
    return color;
  }

  // What the widget adds to the DSFR's components (widget.css): the host's reset, the partner's colour
  // as the DSFR's action colour, and the layout. Everything here keeps 4.5:1 contrast (WCAG AA).
  var CSS = [
    // all:initial stops what the page passes down; !important wins over the page's own !important
    // rules that match the host element itself (a "* {font-family: … !important}", say).
    ":host{all:initial;display:block;--mw-accent:" + DEFAULT_COLOR + ";",
    "--background-action-high-blue-france:var(--mw-accent);--background-action-high-blue-france-hover:var(--mw-accent);",
    "--background-action-high-blue-france-active:var(--mw-accent);--text-action-high-blue-france:var(--mw-accent);",
    "--border-action-high-blue-france:var(--mw-accent);--border-plain-blue-france:var(--mw-accent);",
    "font-family:Marianne,Arial,'Helvetica Neue',sans-serif!important;font-size:16px!important;",
    "font-weight:400!important;font-style:normal!important;line-height:1.5!important;color:#161616!important;",
    "letter-spacing:normal!important;text-transform:none!important;text-align:left!important;",
    "visibility:visible!important;-webkit-font-smoothing:antialiased}",
    ":host([hidden]){display:none}",
    "[hidden]{display:none!important}",  // the DSFR shows its error texts as flex, hidden or not
    "*{box-sizing:border-box}",
    ".mw{background:#fff;border:1px solid #dddddd;border-top:4px solid var(--mw-accent);padding:1.5rem;",
    "max-width:60rem;margin:0 auto;color:#161616}",
    "h2{font-size:1.5rem;line-height:1.25;margin:0 0 .5rem}",
    "h3{font-size:1.25rem;margin:1.5rem 0 .75rem}",
    "h4{font-size:1.125rem;margin:0 0 .25rem}",
    "p{margin:0 0 .75rem}",
    ".mw-intro{color:#3a3a3a}",
    "form{display:grid;gap:.5rem;margin-top:1rem}",
    "form .fr-input-group,form .fr-select-group{margin:0 0 .5rem}",
    ".mw-row{display:grid;grid-template-columns:1fr 1fr;gap:1rem}",
    ":host([data-size=narrow]) .mw-row{grid-template-columns:1fr}",
    ":host([data-size=narrow]) .mw{padding:1rem}",
    "textarea.fr-input{min-height:7rem;resize:vertical}",
    ".mw-needs{margin:0}",
    ".mw-checks-grid{display:flex;flex-wrap:wrap;gap:.25rem 1.5rem;padding:0 .75rem}",
    ".mw-consent{background:#f6f6f6;padding:.75rem}",
    "button.fr-btn{justify-self:start}",
    "button.fr-btn[disabled]{cursor:wait}",
    ".mw-combo{position:relative}",
    "[role=listbox]{position:absolute;z-index:10;left:0;right:0;margin:0;padding:0;list-style:none;background:#fff;",
    "border:1px solid #929292;max-height:16rem;overflow:auto}",
    "[role=option]{padding:.5rem .75rem;cursor:pointer}",
    "[role=option][aria-selected=true]{background:var(--mw-accent);color:#fff}",
    ".mw-understood{background:#f5f5fe;border-left:4px solid var(--mw-accent);padding:.75rem 1rem;margin:0 0 1rem}",
    ".mw-understood ul{margin:.25rem 0 0;padding-left:1.25rem}",
    ".mw-understood li{margin:.25rem 0}",
    ".mw-nothing{margin:0 0 1rem}",
    ".mw-relevance{margin:.25rem 0;font-weight:700}",
    "button.mw-undo{margin-left:.25rem}",
    ".mw-status{margin:1rem 0 0;font-weight:500}",
    ".mw-status.mw-bad{color:#ce0500}",
    ".mw-status.mw-good{color:#18753c}",
    "ol.mw-list{--ol-type:none;list-style:none;margin:0;padding:0;display:grid;gap:1rem}",
    "ol.mw-list>li::marker{content:none}",
    "ol.mw-list>li{padding:1rem 1.25rem}",
    ".mw-card{border:1px solid #dddddd;border-left:4px solid var(--mw-accent)}",
    ".mw-meta{color:#3a3a3a;font-size:.875rem;margin:0 0 .5rem}",
    ".mw-tag{margin-left:.5rem}",
    ".mw-deadline{font-weight:700;font-size:.9375rem}",
    ".mw-sub{font-weight:700;margin:.75rem 0 .25rem;font-size:.9375rem}",
    "ul.mw-reasons{margin:0;padding-left:1.25rem}",
    "ul.mw-crit{list-style:none;margin:0;padding:0;font-size:.875rem}",
    "ul.mw-crit li{margin:.35rem 0;padding:0}",
    ".mw-st{margin-right:.4rem;min-width:8.5rem}",
    ".mw-near{background:#e8edff;padding:.4rem .6rem;font-size:.875rem;margin:.5rem 0 0}",
    ".mw-verified{color:#3a3a3a;font-size:.875rem;margin:0 0 .25rem}",
    ".mw-stale{margin:.25rem 0 .5rem}",
    ".mw-contact{font-size:.875rem;margin:.25rem 0}",
    ".mw-foot{font-size:.75rem;color:#666666;margin:1.25rem 0 0}",
    ".mw-sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}"
  ].join("");

  function applyStyles(root, api) {
    // The DSFR's components, scoped to this shadow root (:root read as :host), served by the service:
    // the partner's page loads nothing of the DSFR itself, and nothing of it reaches the page.
    if (api) root.appendChild(el("link", {rel: "stylesheet", href: new URL("widget.css", api).href}));
    // A constructed style sheet works under a strict Content-Security-Policy; <style> is the fallback.
    try {
      var sheet = new CSSStyleSheet();
      sheet.replaceSync(CSS);
      root.adoptedStyleSheets = [sheet];
    } catch (e) {
      root.appendChild(el("style", {text: CSS}));
    }
  }

  // "18 000", "18000 €", "2 500,50": euros as a number; null when it is not a sum.
  function readAmount(text) {
    // Spaces and dots may group thousands (18 000, 18.000); a comma is the decimal mark.
    var plain = text.replace(/[\s\u00a0\u202f]/g, "").replace(/(€|euros?)$/i, "")
      .replace(/\.(?=\d{3}(\D|$))/g, "").replace(",", ".");
    return /^\d+(\.\d{1,2})?$/.test(plain) ? parseFloat(plain) : null;
  }

  // --- the element ---------------------------------------------------------------------------

  var counter = 0;

  class MaillageWidget extends HTMLElement {}

  MaillageWidget.prototype.connectedCallback = function () {
    if (this.shadowRoot) return;
    var d = this.dataset;
    var results = parseInt(d.results || "5", 10);
    this.config = {
      api: d.api || scriptBase,
      key: d.key || "",
      territory: d.territory || null,
      kinds: csv(d.kinds),
      themes: csv(d.themes),
      results: isNaN(results) ? 5 : Math.max(1, Math.min(20, results)),
      title: d.title || DEFAULTS.title,
      intro: d.intro || DEFAULTS.intro,
      submit: d.submit || DEFAULTS.submit,
      consent: d.consent || DEFAULTS.consent
    };
    this.uid = "mw" + (++counter);
    this.place = {code: null, hits: [], active: -1, timer: null, seq: 0};
    this.ignored = [];  // fields read from the text that the citizen removed ("Retirer")
    this.style.setProperty("--mw-accent", accessibleColor(d.color));
    var root = this.attachShadow({mode: "open"});
    applyStyles(root, this.config.api);
    root.appendChild(this.build());
    this.watchSize();
  };

  MaillageWidget.prototype.ref = function (name) { return this.uid + "-" + name; };

  MaillageWidget.prototype.field = function (name) { return this.shadowRoot.getElementById(this.ref(name)); };

  MaillageWidget.prototype.build = function () {
    var self = this, c = this.config, id = this.ref.bind(this);
    function options(pairs, empty) {
      return [el("option", {value: "", text: empty})].concat(pairs.map(function (p) {
        return el("option", {value: p[0], text: p[1].charAt(0).toUpperCase() + p[1].slice(1)});
      }));
    }
    var needs = LABELS.need.map(function (p) {
      return el("div", {"class": "fr-checkbox-group fr-checkbox-group--sm mw-check"}, [
        el("input", {type: "checkbox", id: id("need-" + p[0]), name: "needs", value: p[0]}),
        el("label", {"class": "fr-label", "for": id("need-" + p[0]), text: p[1].charAt(0).toUpperCase() + p[1].slice(1)})
      ]);
    });
    var form = el("form", {novalidate: true, "aria-describedby": id("intro")}, [
      el("div", {"class": "fr-input-group"}, [
        el("label", {"class": "fr-label", "for": id("text")}, ["Décrivez votre projet ", el("span", {"class": "fr-hint-text mw-hint", text: "Obligatoire. Ce que vous faites, pour qui, où et avec qui."})]),
        el("textarea", {"class": "fr-input", id: id("text"), name: "text", required: true, maxlength: "5000", "aria-describedby": id("text-error")}),
        el("p", {"class": "fr-error-text mw-error", id: id("text-error"), hidden: true})
      ]),
      el("div", {"class": "fr-input-group mw-combo"}, [
        el("label", {"class": "fr-label", "for": id("place")}, ["Commune ou code postal ", el("span", {"class": "fr-hint-text mw-hint", text: "Facultatif. Tapez le début du nom ou le code postal, puis choisissez dans la liste."})]),
        el("input", {"class": "fr-input", type: "text", id: id("place"), name: "place", role: "combobox", autocomplete: "off",
          "aria-autocomplete": "list", "aria-expanded": "false", "aria-controls": id("places"), "aria-describedby": id("place-error")}),
        el("ul", {id: id("places"), role: "listbox", "aria-label": "Communes proposées", hidden: true}),
        el("p", {"class": "fr-error-text mw-error", id: id("place-error"), hidden: true}),
        el("p", {"class": "mw-sr", id: id("place-live"), "aria-live": "polite"})
      ]),
      el("div", {"class": "mw-row"}, [
        el("div", {"class": "fr-select-group"}, [
          el("label", {"class": "fr-label", "for": id("form"), text: "Type de structure"}),
          el("select", {"class": "fr-select", id: id("form"), name: "legal_form"}, options(LABELS.legal_form, "Je ne sais pas encore"))
        ]),
        el("div", {"class": "fr-select-group"}, [
          el("label", {"class": "fr-label", "for": id("stage"), text: "Stade du projet"}),
          el("select", {"class": "fr-select", id: id("stage"), name: "stage"}, options(LABELS.stage, "Non précisé"))
        ])
      ]),
      el("div", {"class": "fr-input-group"}, [
        el("label", {"class": "fr-label", "for": id("amount")}, ["Montant recherché (€) ", el("span", {"class": "fr-hint-text mw-hint", text: "Facultatif. La somme qu'il vous manque, en euros, par exemple 18 000."})]),
        el("input", {"class": "fr-input", type: "text", id: id("amount"), name: "amount_sought", inputmode: "numeric", autocomplete: "off", "aria-describedby": id("amount-error")}),
        el("p", {"class": "fr-error-text mw-error", id: id("amount-error"), hidden: true})
      ]),
      el("fieldset", {"class": "fr-fieldset mw-needs"}, [
        el("legend", {"class": "fr-fieldset__legend--regular fr-fieldset__legend"}, ["Vos besoins ", el("span", {"class": "fr-hint-text mw-hint", text: "Facultatif, plusieurs choix possibles."})]),
        el("div", {"class": "mw-checks-grid"}, needs)
      ]),
      el("div", {"class": "fr-checkbox-group mw-consent"}, [
        el("input", {type: "checkbox", id: id("consent"), name: "consent"}),
        el("label", {"class": "fr-label", "for": id("consent"), text: c.consent})
      ]),
      el("p", {"class": "fr-hint-text mw-hint"}, [el("a", {href: c.api ? new URL("confidentialite", c.api).href : "#", target: "_blank",
        rel: "noopener", text: "Vos données personnelles : qui les garde, combien de temps, vos droits (nouvelle fenêtre)"})]),
      el("div", {"class": "fr-input-group", id: id("email-field"), hidden: true}, [
        el("label", {"class": "fr-label", "for": id("email")}, ["Adresse électronique ", el("span", {"class": "fr-hint-text mw-hint", text: "Facultatif. Pour être recontacté ; format attendu : nom@exemple.fr"})]),
        el("input", {"class": "fr-input", type: "email", id: id("email"), name: "email", autocomplete: "email", "aria-describedby": id("email-error")}),
        el("p", {"class": "fr-error-text mw-error", id: id("email-error"), hidden: true})
      ]),
      el("button", {"class": "fr-btn", type: "submit", id: id("submit"), text: c.submit})
    ]);
    form.addEventListener("submit", function (event) { event.preventDefault(); self.search(); });
    // A reading the citizen removed stays removed until the description changes.
    form.querySelector("#" + id("text")).addEventListener("input", function () { self.ignored = []; });
    this.wirePlace(form);
    var consent = form.querySelector("#" + id("consent"));
    consent.addEventListener("change", function () { self.field("email-field").hidden = !consent.checked; });
    return el("section", {"class": "mw", "aria-labelledby": id("title")}, [
      el("h2", {id: id("title"), text: c.title}),
      el("p", {"class": "mw-intro", id: id("intro"), text: c.intro}),
      form,
      el("p", {"class": "mw-status", id: id("status"), role: "status", "aria-live": "polite"}),
      el("div", {id: id("results")}),
      el("p", {"class": "mw-foot"}, [
        "Suggestions calculées par Maillage, le service de mise en relation de l'accélérateur d'initiatives " +
        "citoyennes. Sans votre accord, votre description n'est pas conservée."
      ])
    ]);
  };

  MaillageWidget.prototype.watchSize = function () {
    var self = this;
    function apply(width) { self.setAttribute("data-size", width < 560 ? "narrow" : "wide"); }
    apply(this.getBoundingClientRect().width || 600);
    if (typeof ResizeObserver === "function") {
      new ResizeObserver(function (entries) { apply(entries[0].contentRect.width); }).observe(this);
    }
  };

  // --- API calls -----------------------------------------------------------------------------

  MaillageWidget.prototype.call = function (method, path, body) {
    var c = this.config;
    if (!c.api) return Promise.reject({message: "Adresse du service inconnue : ajoutez data-api au widget."});
    var init = {
      method: method, mode: "cors", credentials: "omit", cache: "no-store",
      headers: {"Authorization": "Bearer " + c.key, "X-Maillage-Widget": "1"}
    };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return fetch(new URL(path, c.api).href, init).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (response.ok) return data;
        throw {status: response.status, code: data.error && data.error.code, data: data,
          retry: response.headers.get("Retry-After")};
      });
    }, function () {
      throw {status: 0};
    });
  };

  function explain(error) {
    if (error.message) return error.message;
    switch (error.status) {
      case 0: return "Le service Maillage n'a pas pu être joint depuis ce site : l'adresse du site n'est peut-être " +
        "pas autorisée pour cette clé, ou le service est indisponible. Réessayez plus tard.";
      case 401: return "La clé de ce widget est inconnue ou a été révoquée. Prévenez le responsable du site.";
      case 403: return error.code === "origin_not_allowed"
        ? "Ce site n'est pas autorisé à utiliser cette clé (origine non autorisée). Prévenez le responsable du site."
        : "Cette clé ne permet pas cette recherche. Prévenez le responsable du site.";
      case 422: return "Votre demande n'a pas pu être lue : vérifiez les champs et réessayez.";
      case 429: return "Trop de demandes en peu de temps : réessayez dans " + (error.retry || "quelques") + " secondes.";
      default: return "Le service est momentanément indisponible. Réessayez dans quelques minutes.";
    }
  }

  // --- commune autocompletion (ARIA combobox) -------------------------------------------------

  MaillageWidget.prototype.wirePlace = function (form) {
    var self = this, input = form.querySelector("#" + this.ref("place"));
    input.addEventListener("input", function () {
      self.place.code = null;
      clearTimeout(self.place.timer);
      var q = input.value.trim();
      if (q.length < 2) { self.showPlaces([]); return; }
      self.place.timer = setTimeout(function () { self.lookup(q); }, 200);
    });
    input.addEventListener("keydown", function (event) {
      var p = self.place, open = input.getAttribute("aria-expanded") === "true";
      if (event.key === "ArrowDown" && p.hits.length) {
        event.preventDefault();
        if (!open) self.showPlaces(p.hits);
        self.activate(Math.min(p.active + 1, p.hits.length - 1));
      } else if (event.key === "ArrowUp" && open) {
        event.preventDefault();
        self.activate(Math.max(p.active - 1, 0));
      } else if (event.key === "Enter" && open && p.active >= 0) {
        event.preventDefault();
        self.choose(p.active);
      } else if (event.key === "Escape" && open) {
        event.preventDefault();
        self.showPlaces([], true);
      }
    });
    input.addEventListener("blur", function () { setTimeout(function () { self.showPlaces([], true); }, 150); });
  };

  MaillageWidget.prototype.lookup = function (q) {
    var self = this, seq = ++this.place.seq;
    return this.call("GET", "v1/territories?limit=8&q=" + encodeURIComponent(q)).then(function (hits) {
      if (seq !== self.place.seq) return;
      self.place.hits = hits;
      self.showPlaces(hits);
      self.field("place-live").textContent = hits.length
        ? hits.length + (hits.length > 1 ? " communes proposées" : " commune proposée") + ", flèches haut et bas pour choisir."
        : "Aucune commune trouvée.";
    }, function () { /* autocompletion is a convenience: a failed lookup leaves the field as typed */ });
  };

  MaillageWidget.prototype.showPlaces = function (hits, keepHits) {
    var self = this, list = this.field("places"), input = this.field("place");
    list.textContent = "";
    hits.forEach(function (hit, i) {
      var option = el("li", {role: "option", id: self.ref("place-" + i), "aria-selected": "false", text: hit.label});
      option.addEventListener("mousedown", function (event) { event.preventDefault(); self.choose(i); });
      list.appendChild(option);
    });
    if (!keepHits) this.place.hits = hits;
    this.place.active = -1;
    list.hidden = !hits.length;
    input.setAttribute("aria-expanded", hits.length ? "true" : "false");
    input.removeAttribute("aria-activedescendant");
  };

  MaillageWidget.prototype.activate = function (i) {
    var list = this.field("places"), input = this.field("place");
    Array.prototype.forEach.call(list.children, function (option, j) {
      option.setAttribute("aria-selected", j === i ? "true" : "false");
    });
    this.place.active = i;
    input.setAttribute("aria-activedescendant", this.ref("place-" + i));
    list.children[i].scrollIntoView({block: "nearest"});
  };

  MaillageWidget.prototype.choose = function (i) {
    var hit = this.place.hits[i], input = this.field("place");
    this.place.code = hit.code;
    input.value = hit.label;
    this.showPlaces([], true);
    this.setError("place", null);
    this.field("place-live").textContent = hit.label + " choisie.";
  };

  // --- search --------------------------------------------------------------------------------

  MaillageWidget.prototype.setError = function (name, message) {
    var box = this.field(name + "-error"), input = this.field(name);
    box.textContent = message || "";
    box.hidden = !message;
    if (box.parentNode && box.parentNode.classList) box.parentNode.classList.toggle("fr-input-group--error", Boolean(message));
    if (message) input.setAttribute("aria-invalid", "true"); else input.removeAttribute("aria-invalid");
  };

  MaillageWidget.prototype.setStatus = function (text, tone) {
    var status = this.field("status");
    status.textContent = text;
    status.className = "mw-status" + (tone ? " mw-" + tone : "");
  };

  // ``again``: a new search after a reading was removed; the project, if sent, is not sent twice.
  MaillageWidget.prototype.search = function (again) {
    var self = this, c = this.config;
    var text = this.field("text").value.trim();
    var placeText = this.field("place").value.trim();
    if (placeText && !this.place.code && /^\d{5}$/.test(placeText) && this.place.hits.length &&
        this.place.hits[0].postcode === placeText) {
      this.choose(0);  // a full postcode typed without picking: its first commune
    }
    var consent = this.field("consent").checked && !again;
    var email = this.field("email").value.trim();
    this.setError("text", text.length < 10 ? "Décrivez votre projet en une phrase au moins (10 caractères)." : null);
    this.setError("place", placeText && !this.place.code
      ? "Choisissez une commune dans la liste proposée, ou laissez le champ vide." : null);
    var amountText = this.field("amount").value.trim(), amount = readAmount(amountText);
    this.setError("amount", !amountText || (amount !== null && amount <= 1e12) ? null : amount === null
      ? "Montant invalide : indiquez une somme en euros, en chiffres, par exemple 18 000."
      : "Montant trop élevé : indiquez la somme recherchée pour ce projet, en euros.");
    this.setError("email", consent && email && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(email)
      ? "Adresse électronique invalide : format attendu nom@exemple.fr." : null);
    var invalid = this.shadowRoot.querySelector("[aria-invalid=true]");
    if (invalid) { invalid.focus(); return; }

    var needs = Array.prototype.map.call(this.shadowRoot.querySelectorAll("input[name=needs]:checked"),
      function (box) { return box.value; });
    var profile = {
      territory: this.place.code || c.territory || undefined,
      legal_form: this.field("form").value || undefined,
      stage: this.field("stage").value || undefined,
      needs: needs
    };
    var query = Object.assign({text: text, themes: c.themes, kinds: c.kinds, k: c.results,
      amount_sought: amount === null ? undefined : amount, ignore_understood: this.ignored}, profile);
    var button = this.field("submit"), results = this.field("results");
    button.disabled = true;
    results.setAttribute("aria-busy", "true");
    this.setStatus("Recherche en cours…");
    var asked = [this.call("POST", "v1/match", query)];
    if (consent) {
      var title = text.split(/[.!?\n]/)[0].trim();
      asked.push(this.call("POST", "v1/widget/initiatives", Object.assign({}, profile, {
        title: title.length > 90 ? title.slice(0, 89).trim() + "…" : title,
        description: text, territory: profile.territory || "FR", contact_email: email || undefined, consent: true
      })));
    }
    Promise.all(asked).then(function (answers) {
      self.show(answers[0].matches || [], answers[0].understood || [], answers[0]);
      self.setStatus((answers[0].nothing_fits && (answers[0].matches || []).length
        ? "Rien ne correspond vraiment à votre projet pour l'instant : voici les pistes les plus proches."
        : self.summary((answers[0].matches || []).length)) + (consent
        ? " Votre projet a bien été transmis à l'équipe de l'accélérateur." : ""), "good");
    }, function (error) {
      results.textContent = "";
      self.setStatus(explain(error), "bad");
    }).then(function () {
      button.disabled = false;
      results.removeAttribute("aria-busy");
    });
  };

  MaillageWidget.prototype.summary = function (n) {
    return n === 0 ? "Aucune ressource ne correspond pour l'instant." :
      n === 1 ? "1 ressource peut correspondre à votre projet." : n + " ressources peuvent correspondre à votre projet.";
  };

  MaillageWidget.prototype.show = function (matches, understood, answer) {
    var self = this, results = this.field("results");
    var nothing = Boolean(answer && answer.nothing_fits && matches.length);
    results.textContent = "";
    var heading = el("h3", {tabindex: "-1", text: nothing ? "Rien ne correspond vraiment à votre projet"
      : matches.length ? "Ressources suggérées" : "Aucune suggestion"});
    results.appendChild(heading);
    var used = (understood || []).filter(function (item) { return item.used; });
    if (used.length) results.appendChild(this.understood(used));
    if (!matches.length) {
      results.appendChild(el("p", {text: "Précisez votre description ou élargissez le territoire, puis relancez la recherche."}));
    } else {
      var weak = matches.every(function (m) { return m.relevance_label === "faible"; });
      if (!nothing && weak) {
        results.appendChild(el("p", {"class": "fr-alert fr-alert--warning fr-alert--sm mw-nothing", text: "Aucune de ces pistes n'a une pertinence estimée forte ou " +
          "moyenne pour votre projet : lisez leurs critères avec attention, ou contactez l'équipe de l'accélérateur."}));
      }
      if (nothing) {
        results.appendChild(el("p", {"class": "fr-alert fr-alert--warning fr-alert--sm mw-nothing", text: "Aucune ressource du catalogue n'atteint une pertinence " +
          "suffisante pour votre projet. Voici les pistes les moins éloignées ; l'équipe de l'accélérateur peut vous aider à en trouver d'autres."}));
      }
      results.appendChild(el("ol", {"class": "mw-list"}, matches.map(function (m) { return self.card(m); })));
    }
    var near = (answer && answer.near_misses) || [];
    if (nothing && near.length) {
      results.appendChild(el("p", {"class": "mw-sub", text: "Presque accessibles, et ce qui les ouvrirait :"}));
      results.appendChild(el("ul", {"class": "mw-reasons"}, near.map(function (m) {
        return el("li", {text: m.title + " — " + (m.near_misses || []).join(" ; ")});
      })));
    }
    heading.focus();
  };

  // What the service read from the description, each with its words, and a way to remove it: the
  // search runs again without that reading (a field the citizen fills in always wins anyway).
  MaillageWidget.prototype.understood = function (items) {
    var self = this;
    return el("div", {"class": "mw-understood"}, [
      el("p", {"class": "mw-sub", text: "Nous avons compris, d'après votre description :"}),
      el("ul", {}, items.map(function (item) {
        var undo = el("button", {type: "button", "class": "fr-btn fr-btn--tertiary-no-outline fr-btn--sm mw-undo", text: "Retirer",
          "aria-label": "Retirer : " + item.label});
        undo.addEventListener("click", function () {
          if (self.ignored.indexOf(item.field) < 0) self.ignored.push(item.field);
          self.search(true);
        });
        return el("li", {}, [item.label, undo]);
      }))
    ]);
  };

  MaillageWidget.prototype.card = function (m) {
    var kind = LABELS.kind[m.kind] || m.kind;
    var title = m.url
      ? el("a", {href: m.url, target: "_blank", rel: "noopener noreferrer"}, [m.title, el("span", {"class": "mw-sr", text: " (nouvelle fenêtre)"})])
      : m.title;
    var checks = (m.checks || []).map(function (check) {
      return el("li", {}, [
        el("span", {"class": "fr-badge fr-badge--sm fr-badge--" + (BADGE[check.status] || "info") + " mw-st mw-st-" + check.status,
          text: LABELS.status[check.status] || check.status}),
        el("strong", {text: (LABELS.criterion[check.criterion] || check.criterion) + " : "}),
        check.clause
      ]);
    });
    return el("li", {"class": "mw-card"}, [
      el("h4", {}, [title]),
      el("p", {"class": "mw-meta"}, [m.provider || "", kind ? el("span", {"class": "fr-tag fr-tag--sm mw-tag", text: kind}) : null]),
      m.relevance_label ? el("p", {"class": "mw-relevance mw-rel-" + m.relevance_label,
        text: "Pertinence estimée : " + m.relevance_label}) : null,
      m.closes_at ? el("p", {"class": "mw-deadline", text: "Date de clôture : " + frenchDate(m.closes_at)}) : null,
      m.verified ? el("p", {"class": "mw-verified", text: m.verified.charAt(0).toUpperCase() + m.verified.slice(1)}) : null,
      m.stale_warning ? el("p", {"class": "fr-alert fr-alert--warning fr-alert--sm mw-stale", role: "note", text: m.stale_warning}) : null,
      m.contact ? el("p", {"class": "mw-contact"}, ["Contact : ", /^https?:\/\//.test(m.contact)
        ? el("a", {href: m.contact, target: "_blank", rel: "noopener noreferrer"}, [m.contact, el("span", {"class": "mw-sr", text: " (nouvelle fenêtre)"})])
        : m.contact]) : null,
      el("p", {"class": "mw-sub", text: "Pourquoi cette suggestion"}),
      el("ul", {"class": "mw-reasons"}, (m.reasons || []).map(function (r) { return el("li", {text: r}); })),
      checks.length ? el("p", {"class": "mw-sub", text: "Éligibilité, critère par critère"}) : null,
      checks.length ? el("ul", {"class": "mw-crit"}, checks) : null,
      (m.near_misses || []).length ? el("p", {"class": "mw-near", text: "Pour devenir éligible : " + m.near_misses.join(" ; ")}) : null
    ]);
  };

  if (!customElements.get("maillage-widget")) customElements.define("maillage-widget", MaillageWidget);

  // The one-tag embed: <script src=".../widget.js" data-key="…"> renders a widget where it stands.
  if (current && current.dataset && current.dataset.key) {
    var widget = document.createElement("maillage-widget");
    Array.prototype.forEach.call(current.attributes, function (attr) {
      if (attr.name.indexOf("data-") === 0 && attr.name !== "data-target") widget.setAttribute(attr.name, attr.value);
    });
    if (!widget.hasAttribute("data-api")) widget.setAttribute("data-api", scriptBase);
    var target = current.dataset.target ? document.querySelector(current.dataset.target) : null;
    var place = function () {
      if (target) target.appendChild(widget);
      else current.parentNode.insertBefore(widget, current.nextSibling);
    };
    if (current.dataset.target && !target && document.readyState === "loading") {
      document.addEventListener("DOMContentLoaded", function () {
        target = document.querySelector(current.dataset.target);
        place();
      });
    } else {
      place();
    }
  }
})();
