// The status page's inline style and script (./page.ts). Inline on purpose: an air-gapped swarm has no CDN,
// and the page must work with nothing but warden. No build step: plain CSS and plain browser JavaScript.

/** PAGE_STYLE is a table on a wide screen and one card per service on a narrow one (a phone). */
export const PAGE_STYLE = `
:root{color-scheme:light dark;--fg:#1b1f24;--bg:#fff;--mute:#5b636e;--line:#d8dde3;--card:#f6f8fa}
@media (prefers-color-scheme:dark){:root{--fg:#e6e9ed;--bg:#14171b;--mute:#9aa4af;--line:#2d333b;--card:#1c2128}}
*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
header{display:flex;flex-wrap:wrap;align-items:baseline;justify-content:space-between;gap:.5em;padding:.8em 1em;border-bottom:1px solid var(--line)}
h1{font-size:1.2em;margin:0}h2{font-size:1em;margin:1.2em 0 .4em}#refreshed{color:var(--mute);font-size:.85em}
main{padding:0 1em 2em;max-width:1400px}
.summary{display:flex;flex-wrap:wrap;gap:.4em 2em;margin:.8em 0}.summary dt{color:var(--mute);font-size:.8em}.summary dd{margin:0;word-break:break-all}
.problems{border-left:4px solid #cf222e;background:var(--card);padding:.5em 1em .5em 2em}
.count{color:var(--mute)}
table{border-collapse:collapse;width:100%}th,td{text-align:left;vertical-align:top;padding:.45em .6em;border-bottom:1px solid var(--line)}
th{font-size:.8em;color:var(--mute);font-weight:600}td.reason{max-width:40em;word-break:break-word}
.badge{display:inline-block;padding:0 .5em;border-radius:1em;font-size:.85em;font-weight:600;background:var(--line)}
.b-healthy,.b-in_sync,.b-completed{background:#1a7f37;color:#fff}.b-progressing,.b-updating{background:#9a6700;color:#fff}
.b-degraded,.b-missing,.b-rolled_back{background:#cf222e;color:#fff}.b-suspended,.b-drift,.b-paused{background:#8250df;color:#fff}
tr.h-degraded td,tr.h-missing td{background:rgba(207,34,46,.07)}
.drift{margin:.3em 0 0;padding-left:1.2em;font-size:.85em;color:var(--mute)}.rollout{font-size:.85em;color:var(--mute);margin-top:.2em}
.corrections ul,.recent ol{padding-left:1.2em}.corrections li,.recent li{word-break:break-word}.empty{color:var(--mute)}
code{font-size:.95em}time{color:var(--mute)}
@media (max-width:700px){
 table.services thead{display:none}table.services,table.services tbody,table.services tr,table.services td{display:block;width:100%}
 table.services tr{border:1px solid var(--line);border-radius:8px;margin:0 0 .8em;padding:.3em .2em;background:var(--card)}
 table.services td{border:0;padding:.2em .6em;display:flex;gap:.8em}
 table.services td::before{content:attr(data-label);flex:0 0 5.5em;color:var(--mute);font-size:.85em}
}`;

/**
 * PAGE_SCRIPT fetches the page again every `ms` and swaps in its main part. The server escaped what it
 * rendered, and the swapped part comes from warden's own origin, so no text here becomes markup that
 * was not already on the page. A failed fetch says so in the header and leaves the last view shown.
 */
export const PAGE_SCRIPT = (ms: number): string => `
(function(){
  var note=document.getElementById('refreshed');
  function tick(){
    fetch(location.pathname,{cache:'no-store'}).then(function(r){
      if(!r.ok)throw new Error('HTTP '+r.status);return r.text();
    }).then(function(html){
      var doc=new DOMParser().parseFromString(html,'text/html');var next=doc.getElementById('main');
      if(next){document.getElementById('main').innerHTML=next.innerHTML;}
      note.textContent='updated '+new Date().toLocaleTimeString();
    }).catch(function(e){note.textContent='warden did not answer ('+e.message+'); showing the last view';})
    .then(function(){setTimeout(tick,${ms});});
  }
  setTimeout(tick,${ms});
})();`;
