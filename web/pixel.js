/* eddy pixel: sends a shop's view / cart / purchase events to an eddy node.
 *
 *   <script src="http://EDDY_NODE:HTTP_PORT/pixel.js" async
 *           data-item="SKU-123"></script>          (data-item: a view on load)
 *   <script>
 *     window.eddy = window.eddy || [];              // calls made before it loads
 *     eddy.push(["cart", "SKU-123"]);               // are queued and sent once
 *   </script>
 *   ... later: eddy.view("SKU-9"); eddy.cart("SKU-9"); eddy.purchase("SKU-9", 2);
 *
 * The visitor id lives in a first-party cookie of the shop's site (eddy_vid, two
 * years; data-cookie renames it). Events go to /p.gif on the node the script came
 * from (data-endpoint overrides it): navigator.sendBeacon where the browser has it
 * (it survives leaving the page), else a 1x1 image request. Nothing else is sent.
 */
(function (w, d) {
  "use strict";
  var script = d.currentScript;
  var attr = function (name) { return script ? script.getAttribute(name) : null; };
  var endpoint = attr("data-endpoint");
  if (!endpoint && script && script.src) endpoint = script.src.replace(/\/pixel\.js(\?.*)?$/, "");
  endpoint = (endpoint || "").replace(/\/$/, "");
  var cookie = attr("data-cookie") || "eddy_vid";

  function randomId() {
    var bytes = new Uint8Array(12);
    if (w.crypto && w.crypto.getRandomValues) w.crypto.getRandomValues(bytes);
    else for (var i = 0; i < bytes.length; i++) bytes[i] = Math.floor(Math.random() * 256);
    var s = "";
    for (var j = 0; j < bytes.length; j++) s += (bytes[j] < 16 ? "0" : "") + bytes[j].toString(16);
    return "v-" + s;
  }

  function visitor() {
    var m = d.cookie.match(new RegExp("(?:^|; )" + cookie + "=([^;]*)"));
    if (m) return decodeURIComponent(m[1]);
    var id = randomId();
    d.cookie = cookie + "=" + encodeURIComponent(id) + "; path=/; max-age=63072000; SameSite=Lax";
    return id;
  }

  function track(type, item, value) {
    if (!item) return false;
    var q = "u=" + encodeURIComponent(visitor()) + "&i=" + encodeURIComponent(String(item)) +
            "&t=" + encodeURIComponent(type) + "&ts=" + Date.now();
    if (value !== undefined && value !== null) q += "&v=" + encodeURIComponent(String(value));
    var url = endpoint + "/p.gif?" + q;
    try {
      if (w.navigator && typeof w.navigator.sendBeacon === "function" && w.navigator.sendBeacon(url))
        return true;
    } catch (e) { /* fall back to the image */ }
    var img = new Image(1, 1);
    img.src = url;
    return true;
  }

  var api = {
    endpoint: endpoint,
    visitor: visitor,
    track: track,
    view: function (item) { return track("view", item); },
    cart: function (item, qty) { return track("cart", item, qty); },
    purchase: function (item, qty) { return track("purchase", item, qty); },
    push: function (call) { return track(call[0], call[1], call[2]); }
  };
  var queued = w.eddy;
  w.eddy = api;
  if (queued && queued.length) for (var i = 0; i < queued.length; i++) api.push(queued[i]);
  var onload = attr("data-item");
  if (onload) api.view(onload);
})(window, document);
