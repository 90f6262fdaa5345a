/* 定考: a related filter's value as search-as-you-type (views.base.RelatedSearchWidget).
   The named input keeps the chosen id and is hidden; a visible box beside it asks
   <view>/related/<column>?q=… for a few matches the user may see. No external code. */
(function () {
  "use strict";

  function fetchJson(url, done) {
    var request = new XMLHttpRequest();
    request.open("GET", url);
    request.setRequestHeader("Accept", "application/json");
    request.onload = function () {
      if (request.status === 200) { done(JSON.parse(request.responseText)); }
    };
    request.send();
  }

  function withParam(url, name, value) {
    return url + (url.indexOf("?") < 0 ? "?" : "&") + name + "=" + encodeURIComponent(value);
  }

  function setUp(named) {
    if (named.dataset.relatedReady) { return; }
    named.dataset.relatedReady = "1";
    var url = named.dataset.relatedUrl;
    var box = document.createElement("input");
    box.type = "text";
    box.className = "form-control dk-related-box";
    box.placeholder = named.dataset.placeholder || "";
    box.setAttribute("autocomplete", "off");
    box.setAttribute("aria-label", named.dataset.placeholder || "");
    var menu = document.createElement("ul");
    menu.className = "dropdown-menu dk-related-menu";
    menu.setAttribute("role", "listbox");
    var wrapper = document.createElement("div");
    wrapper.className = "dk-related";
    wrapper.style.position = "relative";
    named.parentNode.insertBefore(wrapper, named);
    wrapper.appendChild(named);
    wrapper.appendChild(box);
    wrapper.appendChild(menu);
    named.type = "hidden";

    if (named.value) {
      fetchJson(withParam(url, "id", named.value), function (rows) {
        if (rows.length) { box.value = rows[0].text; }
      });
    }

    function show(rows) {
      menu.innerHTML = "";
      if (!rows.length) {
        var none = document.createElement("li");
        none.className = "disabled";
        var text = document.createElement("a");
        text.textContent = named.dataset.empty || "";
        none.appendChild(text);
        menu.appendChild(none);
      }
      rows.forEach(function (row) {
        var item = document.createElement("li");
        var link = document.createElement("a");
        link.href = "#";
        link.textContent = row.text;
        link.addEventListener("mousedown", function (event) {
          event.preventDefault();
          named.value = row.id;
          box.value = row.text;
          menu.style.display = "none";
        });
        item.appendChild(link);
        menu.appendChild(item);
      });
      menu.style.display = "block";
    }

    var timer = null;
    box.addEventListener("input", function () {
      named.value = "";
      clearTimeout(timer);
      var words = box.value.trim();
      timer = setTimeout(function () {
        fetchJson(withParam(url, "q", words), show);
      }, 200);
    });
    box.addEventListener("focus", function () {
      if (!named.value) { fetchJson(withParam(url, "q", box.value.trim()), show); }
    });
    box.addEventListener("blur", function () { menu.style.display = "none"; });
  }

  function scan(root) {
    var found = (root.querySelectorAll ? root.querySelectorAll("input.dk-related-search") : []);
    Array.prototype.forEach.call(found, setUp);
    if (root.matches && root.matches("input.dk-related-search")) { setUp(root); }
  }

  function start() {
    scan(document);
    new MutationObserver(function (changes) {
      changes.forEach(function (change) {
        Array.prototype.forEach.call(change.addedNodes, function (node) {
          if (node.nodeType === 1) { scan(node); }
        });
      });
    }).observe(document.body, {childList: true, subtree: true});
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());
