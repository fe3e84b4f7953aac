// Runs inside inferno's flame graph: lets the report page search it and tells the page which
// frame is under the pointer. The page and the graph only exchange messages.
(function () {
    "use strict";
    // The graph lives at a blob: address, where inferno's own history updates are refused.
    var replace = history.replaceState.bind(history);
    history.replaceState = function (state, title, url) {
        try { replace(state, title, url); } catch (e) { /* the address cannot change here */ }
    };
    function post(message) { window.parent.postMessage(message, "*"); }
    function frame(node) {
        while (node && node.parentNode) {
            if (node.parentNode.id === "frames") return node;
            node = node.parentNode;
        }
        return null;
    }
    function clear() {
        if (!searching) return;
        reset_search();
        searching = 0;
        searchbtn.classList.remove("show");
        searchbtn.firstChild.nodeValue = "Search";
        matchedtxt.classList.add("hide");
        matchedtxt.firstChild.nodeValue = "";
    }
    function highlighted() {
        var n = 0;
        var rects = document.querySelectorAll("#frames rect");
        for (var i = 0; i < rects.length; i++) {
            if (rects[i].getAttribute("fill") === searchcolor) n++;
        }
        return n;
    }
    window.addEventListener("message", function (e) {
        var m = e.data;
        if (!m || typeof m !== "object" || m.type !== "search") return;
        clear();
        if (typeof m.term === "string" && m.term !== "") search(m.term);
        post({
            type: "searched",
            term: m.term,
            frames: highlighted(),
            matched: searching ? matchedtxt.firstChild.nodeValue : ""
        });
    });
    window.addEventListener("mouseover", function (e) {
        var g = frame(e.target);
        post({ type: "hover", f: g ? g.getAttribute("data-f") : null });
    });
    window.addEventListener("mouseleave", function () { post({ type: "hover", f: null }); });
    window.addEventListener("load", function () {
        // inferno finishes setting up (fitting every label) in a timer of its own: ready means
        // after that, when a search or a pointer gets an answer.
        setTimeout(function () {
            setTimeout(function () {
                var svg = document.documentElement;
                // The drawing's own height: the frame's viewport would only report itself.
                post({ type: "ready", height: svg.height.baseVal.value });
            }, 0);
        }, 0);
    });
})();
