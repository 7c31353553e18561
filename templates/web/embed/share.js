/* "إرسال الخبر إلى صديق" for a page of the site: a link to the share form, marked
   data-mailer-share, opens the form in a dialog over the article. Without JavaScript (or if this
   script fails to load) the link simply opens the form page, so the button always works.

     <a href="https://MAILER/share?url=https%3A%2F%2FSITE%2Fnews%2F1001" data-mailer-share>إرسال الخبر إلى صديق</a>
     <script src="https://MAILER/embed/share.js" defer></script>

   A link to https://MAILER/share with no ?url= or ?guid= gets the page's canonical link. */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || !window.URL || !window.HTMLDialogElement) { return; }  // the plain link still works
  var base = script.src.replace(/\/embed\/share\.js(?:[?#].*)?$/, "");

  function canonical() {
    var link = document.querySelector('link[rel="canonical"]');
    return (link && link.href) || location.href;
  }

  function formUrl(anchor) {
    var url = new URL(anchor.href, location.href);
    if (url.href.indexOf(base + "/share") !== 0) { return null; }
    if (url.pathname.replace(/\/$/, "").slice(-6) === "/share" && !url.searchParams.get("url") &&
        !url.searchParams.get("guid")) {
      url.searchParams.set("url", canonical());
    }
    return url.href;
  }

  function open(event) {
    var anchor = event.currentTarget;
    var src = formUrl(anchor);
    if (!src) { return; }
    event.preventDefault();
    var dialog = document.createElement("dialog");
    dialog.className = "mailer-share-dialog";
    dialog.setAttribute("dir", "rtl");
    dialog.setAttribute("lang", "ar");
    dialog.setAttribute("aria-label", anchor.textContent.trim() || "إرسال الخبر إلى صديق");
    dialog.style.cssText = "padding:0;border:0;border-radius:8px;width:min(600px,96vw);max-height:92vh;" +
      "overflow:hidden;box-shadow:0 8px 32px rgba(0,0,0,.35)";
    var close = document.createElement("button");
    close.type = "button";
    close.className = "mailer-share-close";
    close.textContent = "إغلاق";
    close.style.cssText = "display:block;margin:8px 8px 0 auto;padding:6px 14px;font:inherit;cursor:pointer";
    close.addEventListener("click", function () { dialog.close(); });
    var frame = document.createElement("iframe");
    frame.className = "mailer-share-frame";
    frame.src = src;
    frame.title = dialog.getAttribute("aria-label");
    frame.setAttribute("referrerpolicy", "strict-origin");
    frame.style.cssText = "display:block;border:0;width:100%;height:min(720px,80vh)";
    dialog.appendChild(close);
    dialog.appendChild(frame);
    dialog.addEventListener("close", function () { dialog.remove(); });
    document.body.appendChild(dialog);
    dialog.showModal();
  }

  function bind() {
    var links = document.querySelectorAll("a[data-mailer-share]");
    for (var i = 0; i < links.length; i++) {
      if (!links[i].hasAttribute("data-mailer-bound")) {
        links[i].setAttribute("data-mailer-bound", "");
        links[i].addEventListener("click", open);
      }
    }
  }

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", bind); } else { bind(); }
}());
