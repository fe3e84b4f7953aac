// The report page: builds the document from the JSON data beside it. Every value from the
// profile goes into the page as text (textContent), never as markup.
(function () {
    "use strict";
    var data = JSON.parse(document.getElementById("pa-data").textContent);
    var advice = data.advice;
    var candidates = advice.candidates;
    var app = document.getElementById("app");

    // ---- small helpers ------------------------------------------------------------------
    function el(tag, attrs, children) {
        var node = document.createElement(tag);
        if (attrs) {
            Object.keys(attrs).forEach(function (k) {
                if (k === "text") node.textContent = attrs[k];
                else if (k === "className") node.className = attrs[k];
                else node.setAttribute(k, attrs[k]);
            });
        }
        (children || []).forEach(function (c) {
            if (c === null || c === undefined) return;
            node.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
        });
        return node;
    }
    function pct(x) {
        if (x === null || x === undefined) return "?";
        return (100 * x).toFixed(1) + "%";
    }
    function span(s) {
        if (!s) return "-";
        return s[0].toFixed(1) + "x\u2013" + s[1].toFixed(1) + "x";
    }
    function thousands(n) {
        return String(Math.round(n)).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
    }
    function calls(c) {
        if (!c) return "?";
        return (c.exact ? "" : "~") + thousands(c.count);
    }
    function seconds(s) {
        return s < 10 ? s.toFixed(2) + " s" : s.toFixed(1) + " s";
    }
    function dataPerCall(flows) {
        var parts = flows.filter(function (d) {
            return d.name !== "self" && d.mean_size >= 2 && d.type !== "int";
        }).map(function (d) { return d.type + " " + Math.round(d.mean_size); });
        if (parts.length) return parts.join(", ");
        return flows.length ? "scalars" : "-";
    }
    function verdictClass(v) {
        return { port: "v-port", use_library: "v-library", leave_it: "v-leave" }[v] || "v-leave";
    }
    function verdictLabel(c) {
        if (c.verdict === "port" && c.reason === "release_gil") { return "port nogil"; }
        return { port: "port", use_library: "use library", leave_it: "leave it" }[c.verdict] || c.verdict;
    }
    function dotted(f) { return f.module ? f.module + "." + f.name : f.name; }
    function spec(f) { return (f.module || "") + ":" + f.name; }
    // A word a POSIX shell reads back unchanged.
    function shellWord(s) {
        return /^[A-Za-z0-9_\/.:,=+@%-]+$/.test(s) ? s : "'" + s.replace(/'/g, "'\\''") + "'";
    }
    function escapeRegex(s) { return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"); }

    // ---- header and summary ---------------------------------------------------------------
    var s = data.summary;
    app.appendChild(el("header", null, [
        el("h1", { text: "What to port" }),
        el("p", { className: "command" }, [el("code", { text: s.command.join(" ") })])
    ]));
    var cards = [
        ["Duration", seconds(s.wall_seconds)],
        ["Samples", thousands(s.samples) + " at " + s.rate_hz + " Hz, " + s.mode],
        ["Python", s.python || "unknown"],
        ["Best achievable speedup", s.best_speedup ? span(s.best_speedup) : "none found"],
        ["Verdicts", s.verdicts.port + " port \u00b7 " + s.verdicts.use_library +
            " use a library \u00b7 " + s.verdicts.leave_it + " leave it"]
    ];
    if (s.unreadable_samples > 0) {
        cards.push(["Unreadable samples", thousands(s.unreadable_samples)]);
    }
    if (s.exit) cards.push(["Program", s.interrupted ? "interrupted" : s.exit]);
    app.appendChild(el("section", { id: "summary", "aria-label": "Summary" }, cards.map(function (c) {
        return el("div", { className: "card" }, [
            el("div", { className: "card-label", text: c[0] }),
            el("div", { className: "card-value", text: c[1] })
        ]);
    })));
    var notes = advice.unknowns.slice();
    if (!advice.probe.available && advice.probe.why_not) notes.unshift(advice.probe.why_not);
    if (advice.elsewhere && advice.elsewhere.length) {
        notes.unshift("Interpreted outside the program's code: " + advice.elsewhere.map(function (p) {
            return p.package + " " + (100 * p.share).toFixed(0) + "% (" +
                (p.origin === "stdlib" ? "standard library" : "installed package") + ")";
        }).join(", ") + ". Porting the program does not make that faster: switch to a native " +
            "replacement where one exists, or call it less often.");
    }
    if (notes.length) {
        app.appendChild(el("section", { id: "unknowns" }, notes.map(function (n) {
            return el("p", { className: "note", text: n });
        })));
    }

    // ---- candidates table -----------------------------------------------------------------
    var columns = [
        { key: "rank", label: "#", num: true, value: function (c) { return c.rank; } },
        { key: "verdict", label: "verdict", value: function (c) {
            return { port: 0, use_library: 1, leave_it: 2 }[c.verdict];
        } },
        { key: "function", label: "function", value: function (c) { return dotted(c.function).toLowerCase(); } },
        { key: "time", label: "time", num: true, value: function (c) { return c.time_share; } },
        { key: "native", label: "native", num: true, value: function (c) { return c.native_share; } },
        { key: "calls", label: "calls", num: true, value: function (c) { return c.calls ? c.calls.count : -1; } },
        { key: "data", label: "data/call", value: function (c) { return dataPerCall(c.data); } },
        { key: "speedup", label: "speedup", num: true, value: function (c) { return c.speedup ? c.speedup[0] : 0; } },
        { key: "score", label: "score", num: true, value: function (c) { return c.score; } }
    ];
    var table = el("table", { id: "candidates" });
    var headRow = el("tr", null, [el("th", { scope: "col", className: "expand-col" }, [
        el("span", { className: "visually-hidden", text: "details" })
    ])]);
    columns.forEach(function (col) {
        var button = el("button", { type: "button", "data-key": col.key, text: col.label });
        var th = el("th", { scope: "col", "aria-sort": "none", className: col.num ? "num" : "" }, [button]);
        button.addEventListener("click", function () { sortBy(col, th); });
        headRow.appendChild(th);
    });
    table.appendChild(el("thead", null, [headRow]));
    var bodies = candidates.map(function (c, i) { return candidateBody(c, i); });
    bodies.forEach(function (b) { table.appendChild(b); });
    var candidatesSection = el("section", { id: "candidates-section" }, [
        el("h2", { text: "Candidates" }),
        el("p", { className: "hint", text: candidates.length ?
            "Click a column to sort, a row to see its evidence." :
            "No function reached the threshold: nothing to port." })
    ]);
    if (candidates.length) candidatesSection.appendChild(el("div", { className: "table-wrap" }, [table]));
    app.appendChild(candidatesSection);

    function sortBy(col, th) {
        var descending = th.getAttribute("aria-sort") === "ascending";
        // Numbers read best largest first; the rank and names smallest first.
        if (th.getAttribute("aria-sort") === "none") descending = col.num && col.key !== "rank";
        headRow.querySelectorAll("th").forEach(function (h) { h.setAttribute("aria-sort", "none"); });
        th.setAttribute("aria-sort", descending ? "descending" : "ascending");
        var order = bodies.slice().sort(function (a, b) {
            var x = col.value(candidates[a.dataset.index]);
            var y = col.value(candidates[b.dataset.index]);
            var d = x < y ? -1 : x > y ? 1 : 0;
            if (d === 0) d = a.dataset.index - b.dataset.index;
            return descending ? -d : d;
        });
        order.forEach(function (b) { table.appendChild(b); });
    }

    function candidateBody(c, i) {
        var tbody = el("tbody", { className: "candidate", "data-index": String(i), id: "candidate-" + i });
        var toggle = el("button", {
            type: "button", className: "expand", "aria-expanded": "false",
            "aria-controls": "details-" + i, title: "Show the evidence"
        }, [el("span", { "aria-hidden": "true", text: "\u25b8" }),
            el("span", { className: "visually-hidden", text: "evidence of " + dotted(c.function) })]);
        var row = el("tr", { className: "row" }, [
            el("td", { className: "expand-col" }, [toggle]),
            el("td", { className: "num", text: String(c.rank) }),
            el("td", null, [el("span", { className: "badge " + verdictClass(c.verdict), text: verdictLabel(c) })]),
            el("td", { className: "fn" }, [el("code", { text: dotted(c.function) })]),
            el("td", { className: "num", text: pct(c.time_share) }),
            el("td", { className: "num", text: pct(c.native_share) }),
            el("td", { className: "num", text: calls(c.calls) }),
            el("td", { text: dataPerCall(c.data) }),
            el("td", { className: "num", text: c.speedup ? span(c.speedup) : "-" }),
            el("td", { className: "num", text: c.score.toFixed(3) })
        ]);
        var details = el("tr", { className: "details", id: "details-" + i, hidden: "" }, [
            el("td", { colspan: String(columns.length + 1) }, [evidence(c, i)])
        ]);
        function flip() {
            var open = toggle.getAttribute("aria-expanded") !== "true";
            toggle.setAttribute("aria-expanded", open ? "true" : "false");
            if (open) details.removeAttribute("hidden"); else details.setAttribute("hidden", "");
        }
        toggle.addEventListener("click", function (e) { e.stopPropagation(); flip(); });
        row.addEventListener("click", function (e) {
            if (e.target.closest("button")) return;
            flip();
        });
        tbody.appendChild(row);
        tbody.appendChild(details);
        return tbody;
    }

    function facts(pairs) {
        var dl = el("dl", { className: "facts" });
        pairs.forEach(function (p) {
            dl.appendChild(el("dt", { text: p[0] }));
            dl.appendChild(el("dd", { text: p[1] }));
        });
        return dl;
    }

    function smallTable(head, rows) {
        return el("table", { className: "small" }, [
            el("thead", null, [el("tr", null, head.map(function (h) { return el("th", { text: h }); }))]),
            el("tbody", null, rows.map(function (r) {
                return el("tr", null, r.map(function (v) {
                    return typeof v === "string" ? el("td", { text: v }) : el("td", null, [v]);
                }));
            }))
        ]);
    }

    function evidence(c, i) {
        var box = el("div", { className: "evidence" }, [
            el("p", { className: "summary-line", text: c.summary }),
            el("p", { className: "where" }, [el("code", {
                text: c.function.file + (c.function.first_line ? ":" + c.function.first_line : "")
            })])
        ]);
        var callText = c.calls ? (c.calls.exact ? thousands(c.calls.count) + " (counted)" :
            "~" + thousands(c.calls.count) + " (estimated, \u00b1" + thousands(c.calls.error) + ")") :
            "unknown (no probe data)";
        box.appendChild(facts([
            ["time (callees included)", pct(c.time_share)],
            ["own time", pct(c.self_share)],
            ["already native", pct(c.native_share)],
            ["calls", callText],
            ["crossing cost", c.crossing_share === null || c.crossing_share === undefined ?
                "unknown" : pct(c.crossing_share) + " of the run"],
            ["kind of code", c.code_kind + " (Rust " + span(c.factor) + " faster)"],
            ["saved", pct(c.saved[0]) + "\u2013" + pct(c.saved[1]) + " of the run"],
            ["whole-program speedup", c.speedup ? span(c.speedup) : "-"]
        ]));
        if (c.data.length) {
            box.appendChild(el("h4", { text: "Data converted per call" }));
            box.appendChild(smallTable(["value", "type", "mean size", "cost per call"],
                c.data.map(function (d) {
                    return [d.name, d.type, d.mean_size.toFixed(1), Math.round(d.cost_ns) + " ns"];
                })));
        }
        if (c.alternatives.length) {
            box.appendChild(el("h4", { text: "Boundaries considered" }));
            box.appendChild(smallTable(
                ["boundary", "time", "native", "functions", "calls", "crossing", "speedup", "note"],
                c.alternatives.map(function (o) {
                    return [
                        el("code", { text: o.function.name }), pct(o.time_share), pct(o.native_share),
                        String(o.functions), calls(o.calls),
                        o.crossing_share === null || o.crossing_share === undefined ? "?" : pct(o.crossing_share),
                        span(o.speedup), o.chosen ? "chosen" : (o.excluded || "")
                    ];
                })));
        }
        if (c.readiness.length) {
            box.appendChild(el("h4", { text: "Readiness" }));
            box.appendChild(el("ul", null, c.readiness.map(function (n) {
                return el("li", { text: n.signal + " (score \u00d7" + n.effect.toFixed(2) + "): " + n.note });
            })));
        }
        if (c.analogues.length) {
            box.appendChild(el("h4", { text: c.verdict === "use_library" ? "Library" : "Crate analogues" }));
            box.appendChild(el("ul", null, c.analogues.map(function (a) { return el("li", { text: a }); })));
        }
        if (c.evidence.length) {
            box.appendChild(el("h4", { text: "How the numbers were reached" }));
            box.appendChild(el("ul", null, c.evidence.map(function (e) { return el("li", { text: e }); })));
        }
        var actions = el("div", { className: "actions" });
        var show = el("button", { type: "button", className: "show-in-flame", text: "Show in the flame graph" });
        show.addEventListener("click", function () {
            searchBox.value = c.function.name;
            runSearch();
            document.getElementById("flame").scrollIntoView();
        });
        actions.appendChild(show);
        if (data.sources[i]) {
            actions.appendChild(el("a", { href: "#source-" + i, text: "Source view" }));
        }
        box.appendChild(actions);
        if (c.verdict === "port") {
            var command = "port-advisor stub " + shellWord(data.run) + " --function " + shellWord(spec(c.function));
            box.appendChild(el("h4", { text: "Generate its stub crate" }));
            box.appendChild(el("pre", { className: "command-line" }, [el("code", { text: command })]));
        }
        return box;
    }

    // ---- flame graph ----------------------------------------------------------------------
    var searchBox = el("input", {
        type: "search", id: "flame-search", placeholder: "Search functions (plain text)",
        "aria-label": "Search the flame graph", autocomplete: "off"
    });
    var matched = el("span", { id: "flame-matched", role: "status" });
    var hover = el("div", { id: "flame-hover", "aria-live": "polite" }, [
        el("span", { className: "muted", text: "Point at a frame to see its function's numbers; click to zoom." })
    ]);
    var legend = el("ul", { className: "legend", "aria-label": "Colours" }, data.legend.map(function (l) {
        var swatch = el("span", { className: "swatch" });
        swatch.style.background = l.color;
        return el("li", null, [swatch, l.label]);
    }));
    var frame = el("iframe", {
        id: "flame-frame", title: "Flame graph", sandbox: "allow-scripts"
    });
    app.appendChild(el("section", { id: "flame" }, [
        el("h2", { text: "Flame graph" }),
        el("div", { className: "toolbar" }, [searchBox, matched]),
        legend,
        data.flame_note ? el("p", { className: "hint", text: data.flame_note }) : null,
        hover,
        frame
    ]));
    var svgUrl = URL.createObjectURL(new Blob([data.flame_svg], { type: "image/svg+xml" }));
    frame.src = svgUrl;
    var searchTimer = null;
    function runSearch() {
        clearTimeout(searchTimer);
        var term = searchBox.value.trim();
        frame.contentWindow.postMessage({ type: "search", term: term ? escapeRegex(term) : "" }, "*");
    }
    searchBox.addEventListener("input", function () {
        clearTimeout(searchTimer);
        searchTimer = setTimeout(runSearch, 150);
    });
    searchBox.addEventListener("keydown", function (e) { if (e.key === "Enter") runSearch(); });
    window.addEventListener("message", function (e) {
        if (e.source !== frame.contentWindow) return;
        var m = e.data;
        if (!m || typeof m !== "object") return;
        if (m.type === "ready") {
            // A deep, thin stack (start-up imports) can make the drawing very tall: past most
            // of a screen, the frame scrolls instead.
            var height = Math.ceil(Number(m.height) || 600);
            frame.style.height = Math.min(height, Math.max(400, Math.round(window.innerHeight * 0.8))) + "px";
            document.body.setAttribute("data-flame", "ready");
            if (searchBox.value.trim()) runSearch();
        } else if (m.type === "searched") {
            matched.textContent = !m.term ? "" : m.frames ?
                m.matched + " of the samples, in " + m.frames + " frame" + (m.frames === 1 ? "" : "s") :
                "no frame matches";
            matched.setAttribute("data-frames", String(m.frames));
        } else if (m.type === "hover") {
            showFunction(m.f === null || m.f === undefined ? null : data.functions[Number(m.f)]);
        }
    });
    function showFunction(f) {
        hover.textContent = "";
        if (!f) {
            hover.appendChild(el("span", { className: "muted", text: "Point at a frame to see its function's numbers; click to zoom." }));
            return;
        }
        var paint = data.legend.filter(function (l) { return l.paint === f.paint; })[0];
        var parts = [
            el("code", { text: f.name }),
            " \u00b7 " + pct(f.time) + " with callees, " + pct(f.self_time) + " own, " +
                pct(f.native) + " native, calls " +
                (f.calls === null || f.calls === undefined ? "unknown" : (f.calls_exact ? "" : "~") + thousands(f.calls)),
            " \u00b7 " + (paint ? paint.label : f.paint)
        ];
        if (f.candidate !== null && f.candidate !== undefined) {
            parts.push(" \u00b7 candidate #" + candidates[f.candidate].rank);
        }
        parts.forEach(function (p) { hover.appendChild(typeof p === "string" ? document.createTextNode(p) : p); });
    }

    // ---- source views ---------------------------------------------------------------------
    var sourcesSection = el("section", { id: "sources" }, [el("h2", { text: "Source" })]);
    var anySource = false;
    data.sources.forEach(function (src, i) {
        if (!src) return;
        anySource = true;
        var c = candidates[i];
        var max = src.lines.reduce(function (m, l) { return Math.max(m, l.time); }, 0);
        var rows = src.lines.map(function (l) {
            var nativeShare = l.time > 0 ? l.native / l.time : 0;
            var isNative = l.time > 0 && nativeShare >= 0.5;
            var tr = el("tr", { className: isNative ? "native-line" : "" }, [
                el("td", { className: "ln", text: String(l.n) }),
                el("td", { className: "num", text: l.time > 0 ? pct(l.time) : "" }),
                el("td", { className: "mark", title: l.time > 0 ?
                    pct(nativeShare).replace("%", "% of this line's time ran in native code") : "" },
                    [isNative ? el("span", { className: "native-mark", text: "native" }) : null]),
                el("td", { className: "code" }, [el("code", { text: l.code })])
            ]);
            if (l.time > 0 && max > 0) {
                tr.style.setProperty("--heat", String(Math.max(0.08, l.time / max)));
                tr.classList.add("hot");
            }
            return tr;
        });
        var details = el("details", { id: "source-" + i, className: "source" }, [
            el("summary", null, [
                el("span", { className: "badge " + verdictClass(c.verdict), text: verdictLabel(c) }),
                " ",
                el("code", { text: dotted(c.function) }),
                el("span", { className: "muted", text: " \u2014 " + src.file })
            ])
        ]);
        if (src.note) details.appendChild(el("p", { className: "note", text: src.note }));
        details.appendChild(el("table", { className: "source-table" }, [
            el("thead", null, [el("tr", null, [
                el("th", { text: "line" }), el("th", { text: "time" }),
                el("th", { text: "" }), el("th", { text: "code" })
            ])]),
            el("tbody", null, rows)
        ]));
        if (c.verdict === "port" && !sourcesSection.querySelector("details[open]")) details.open = true;
        sourcesSection.appendChild(details);
    });
    if (anySource) {
        sourcesSection.insertBefore(el("p", {
            className: "hint",
            text: "Each line is shaded by the share of the run spent on it, its callees included; " +
                "lines marked native spent most of it in C or Rust code."
        }), sourcesSection.children[1]);
        app.appendChild(sourcesSection);
    }

    app.appendChild(el("footer", null, [
        el("p", { text: data.generator + " \u00b7 crossing costs measured on " + advice.costs_measured +
            " \u00b7 profile started " + s.started_at })
    ]));
    document.body.setAttribute("data-ready", "true");
})();
