"""The HTML report's style and script, inlined into every report (no external fetch).

The script sorts the table (click a column head), filters it (free text and outcome), and
reads and writes the filter in the URL fragment (`#q=text&outcome=fail&sort=image`), so a
filtered view can be linked to, and tested by loading the page with a fragment;
`open=img-3,img-7` (or `open=all`) opens those images' details.
Each image is its own `<tbody>` (summary row + details row), so sorting and filtering
move and hide an image with its details.
Layout: an image reference stays on one line (past 40% of the width it ends in an
ellipsis, the whole reference in its title); a chart label sits above its bar and wraps
rather than being cut off.
"""

CSS = """
:root{--pass:#1a7f37;--warn:#9a6700;--fail:#cf222e;--error:#8250df;--inventory:#0969da;--muted:#57606a;
--line:#d0d7de;--bg:#f6f8fa}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:0;color:#1f2328}
header{padding:16px 24px;border-bottom:1px solid var(--line);background:var(--bg)}
h1{margin:0 0 4px;font-size:22px}h2{font-size:16px;margin:0 0 8px}
.meta{color:var(--muted);margin:0}.note{margin:8px 0 0;padding:6px 10px;border-left:3px solid var(--inventory);
background:#ddf4ff}.interrupted{border-left-color:var(--fail);background:#ffebe9}
main{padding:16px 24px}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin-bottom:16px}
.card{border:1px solid var(--line);border-radius:6px;padding:8px 14px;min-width:110px}
.card b{display:block;font-size:24px}.card span{color:var(--muted);text-transform:uppercase;font-size:12px}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(300px,1fr));gap:16px;margin-bottom:16px}
figure{margin:0;border:1px solid var(--line);border-radius:6px;padding:10px 14px}
figcaption{font-weight:600;margin-bottom:6px}
.bar{display:grid;grid-template-columns:1fr 44px;column-gap:8px;align-items:end;margin:2px 0 6px}
.bar .label{overflow-wrap:anywhere;font-family:ui-monospace,monospace;font-size:12px}
.bar .track{grid-column:1/-1}
.bar .track{background:var(--bg);border-radius:3px;height:14px}
.bar .fill{height:14px;border-radius:3px;background:var(--muted);-webkit-print-color-adjust:exact;
print-color-adjust:exact}
.bar .n{text-align:right;font-variant-numeric:tabular-nums}
.fill.pass{background:var(--pass)}.fill.warn{background:var(--warn)}.fill.fail{background:var(--fail)}
.fill.error{background:var(--error)}.fill.inventory{background:var(--inventory)}.fill.check{background:var(--fail)}
.controls{display:flex;gap:8px;align-items:center;margin:8px 0;flex-wrap:wrap}
.controls input{padding:5px 8px;min-width:280px;border:1px solid var(--line);border-radius:6px}
.controls select{padding:5px;border:1px solid var(--line);border-radius:6px}
#shown{color:var(--muted)}
table.images{border-collapse:collapse;width:100%}
table.images th{position:sticky;top:0;background:var(--bg);text-align:left;border-bottom:2px solid var(--line);
padding:6px;cursor:pointer;user-select:none;white-space:nowrap}
table.images th[aria-sort=ascending]::after{content:" \\25B2"}
table.images th[aria-sort=descending]::after{content:" \\25BC"}
table.images td{padding:5px 6px;border-bottom:1px solid var(--line);vertical-align:top}
td.mono,.mono{font-family:ui-monospace,SFMono-Regular,monospace;font-size:12px;overflow-wrap:anywhere}
td.ref,td.digest{white-space:nowrap}
span.ref{display:block;max-width:40vw;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.detail td.check{white-space:nowrap}
.badge{display:inline-block;border-radius:10px;padding:0 8px;color:#fff;font-size:12px;font-weight:600;
-webkit-print-color-adjust:exact;print-color-adjust:exact}
.badge.pass{background:var(--pass)}.badge.warn{background:var(--warn)}.badge.fail{background:var(--fail)}
.badge.error{background:var(--error)}.badge.inventory{background:var(--inventory)}
td.outcome{white-space:nowrap}
button.toggle{border:0;background:none;cursor:pointer;font-size:12px;width:18px;padding:0}
tr.detail>td{background:#fbfcfd;padding:8px 12px 12px 30px;overflow-wrap:anywhere}
.detail table{border-collapse:collapse;margin:6px 0 10px;width:100%}
.detail th,.detail td{border:1px solid var(--line);padding:3px 6px;text-align:left;vertical-align:top;font-size:13px}
.detail h3{font-size:13px;margin:8px 0 2px}
.o-fail{color:var(--fail);font-weight:600}.o-warn{color:var(--warn);font-weight:600}.o-pass{color:var(--pass)}
.o-skip{color:var(--muted)}.o-error{color:var(--error);font-weight:600}
ul.ev{margin:2px 0 6px;padding-left:18px}
@media print{
 header{background:none}.controls,button.toggle{display:none}
 table.images th{position:static}
 tbody.img{break-inside:avoid}
 tbody.img[data-outcome=fail] tr.detail,tbody.img[data-outcome=error] tr.detail,
 tbody.img[data-outcome=warn] tr.detail{display:table-row!important}
 a{color:inherit;text-decoration:none}
}
"""

JS = """
(function(){
 var table=document.getElementById('images'),q=document.getElementById('q'),sel=document.getElementById('outcome'),
     shown=document.getElementById('shown'),bodies=Array.prototype.slice.call(table.tBodies),sortKey='',sortDir=1;
 function params(){var out={};location.hash.replace(/^#/,'').split('&').forEach(function(kv){
   if(!kv)return;var i=kv.indexOf('=');var k=decodeURIComponent(i<0?kv:kv.slice(0,i));
   out[k]=decodeURIComponent(i<0?'':kv.slice(i+1).replace(/\\+/g,' '));});return out;}
 function write(){var p=[];if(q.value)p.push('q='+encodeURIComponent(q.value));
   if(sel.value)p.push('outcome='+encodeURIComponent(sel.value));
   if(sortKey)p.push('sort='+(sortDir<0?'-':'')+sortKey);
   history.replaceState(null,'',p.length?'#'+p.join('&'):location.pathname+location.search);}
 function filter(){var text=q.value.toLowerCase().trim(),want=sel.value,n=0;
   bodies.forEach(function(b){var ok=(!want||b.dataset.outcome===want)&&(!text||b.dataset.text.indexOf(text)>=0);
     b.hidden=!ok;if(ok)n++;});
   shown.textContent=n+' of '+bodies.length+' image'+(bodies.length===1?'':'s')+' shown';
   table.dataset.shown=String(n);}
 function sort(key,dir){sortKey=key;sortDir=dir;
   var ths=table.tHead.rows[0].cells;for(var i=0;i<ths.length;i++){var k=ths[i].dataset.key;
     if(k)ths[i].setAttribute('aria-sort',k===key?(dir>0?'ascending':'descending'):'none');}
   var num=key==='level';
   bodies.sort(function(a,b){var x=a.dataset[key]||'',y=b.dataset[key]||'';
     if(num){x=x===''?-1:+x;y=y===''?-1:+y;return (x-y)*dir;}return x.localeCompare(y)*dir;});
   bodies.forEach(function(b){table.appendChild(b);});}
 function apply(){var p=params();q.value=p.q||'';sel.value=p.outcome||'';
   if(p.sort){var d=p.sort.charAt(0)==='-'?-1:1;sort(p.sort.replace(/^-/,''),d);}
   if(p.open){var ids=p.open.split(',');bodies.forEach(function(b){
     if(p.open==='all'||ids.indexOf(b.id)>=0)toggle(b,true);});}
   filter();}
 table.tHead.addEventListener('click',function(e){var th=e.target.closest('th');if(!th||!th.dataset.key)return;
   sort(th.dataset.key,sortKey===th.dataset.key?-sortDir:1);write();});
 function toggle(body,open){var btn=body.querySelector('button.toggle'),detail=body.querySelector('tr.detail');
   detail.hidden=!open;btn.setAttribute('aria-expanded',String(open));btn.textContent=open?'\\u25BE':'\\u25B8';}
 table.addEventListener('click',function(e){var btn=e.target.closest('button.toggle');if(!btn)return;
   toggle(btn.closest('tbody'),btn.getAttribute('aria-expanded')!=='true');});
 q.addEventListener('input',function(){filter();write();});
 sel.addEventListener('change',function(){filter();write();});
 window.addEventListener('hashchange',apply);
 apply();
})();
"""
