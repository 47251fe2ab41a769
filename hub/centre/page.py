# ruff: noqa: E501
"""The command centre's page: every community with its active alerts by severity, one
community's board on a click, the same actions as a community's duty board, and a form to
issue a warning. Live: it listens to /api/feed and refreshes what changed. It logs in first
(POST /api/login, the session cookie); a viewer gets the boards without the buttons.

Kept as a string here so the centre needs no package data of its own.
"""

PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>守望 · 指挥中心</title>
<style>
 body{font-family:system-ui,"PingFang SC","Microsoft YaHei",sans-serif;margin:0;background:#10151c;color:#e8edf2}
 header{padding:10px 18px;background:#1b2530;display:flex;gap:16px;align-items:center}
 header h1{font-size:18px;margin:0;flex:1}
 main{display:grid;grid-template-columns:minmax(420px,1fr) 1.4fr;gap:14px;padding:14px}
 section{background:#18202a;border-radius:6px;padding:10px}
 h2{font-size:15px;margin:4px 0 10px}
 table{width:100%;border-collapse:collapse;font-size:13px}
 th,td{padding:5px 6px;border-bottom:1px solid #26313d;text-align:left}
 tr.site{cursor:pointer} tr.site:hover,tr.sel{background:#223042}
 .n{text-align:right;font-variant-numeric:tabular-nums}
 .critical{color:#ff5c5c;font-weight:700}.major{color:#ff9f43}.minor{color:#feca57}
 .warning{color:#9ad0ff}.info{color:#aab}.off{color:#ff5c5c}.on{color:#5fd38d}
 button{background:#2d3d4f;color:#e8edf2;border:0;border-radius:4px;padding:3px 8px;cursor:pointer}
 button:hover{background:#3b5068} input,textarea,select{background:#0f141a;color:#e8edf2;border:1px solid #2d3d4f;border-radius:4px;padding:4px;width:100%;box-sizing:border-box}
 form{display:grid;grid-template-columns:110px 1fr;gap:6px;align-items:center;font-size:13px}
 .banner{background:#5a1e1e;padding:4px 8px;border-radius:4px;margin:2px 0;font-size:12px}
 #status{font-size:12px;color:#9ab}
 #login{position:fixed;inset:0;background:#10151c;display:none;align-items:center;justify-content:center}
 #login form{width:320px;background:#18202a;padding:18px;border-radius:6px}
 #loginError{color:#ff5c5c;grid-column:1/3}
 body.viewer .act{display:none}
</style></head><body>
<header><h1 id="title">守望 · 指挥中心</h1>
<span id="who"></span><button id="logout">退出</button>
<span id="status">连接中…</span></header>
<div id="login"><form id="loginForm"><h2 style="grid-column:1/3">登录指挥中心</h2>
<label>用户名</label><input name="username" autocomplete="username" required>
<label>密码</label><input name="password" type="password" autocomplete="current-password" required>
<span id="loginError"></span><span></span><button>登录</button></form></div>
<main>
<section><h2>社区</h2>
<table><thead><tr><th>社区</th><th>网关</th><th>链路</th>
<th class="n critical">特别严重</th><th class="n major">严重</th><th class="n minor">较重</th>
<th class="n warning">一般</th><th class="n">未确认</th><th>预警</th></tr></thead>
<tbody id="sites"></tbody></table></section>
<section><h2 id="boardTitle">选择一个社区</h2>
<table><thead><tr><th>级别</th><th>报警</th><th>地点</th><th>状态</th><th>时间</th><th></th></tr></thead>
<tbody id="board"></tbody></table>
<h2 style="margin-top:18px" class="act">发布预警</h2>
<form id="warn" class="act">
<label>社区</label><input name="sites" placeholder="留空为全部社区；或以逗号分隔的社区编号">
<label>事件</label><input name="event" required placeholder="暴雨红色预警">
<label>级别</label><select name="severity"><option>Extreme</option><option selected>Severe</option><option>Moderate</option><option>Minor</option></select>
<label>标题</label><input name="headline" required>
<label>内容</label><textarea name="description" rows="2" required></textarea>
<label>应对</label><textarea name="instruction" rows="2"></textarea>
<label>有效（分钟）</label><input name="expires_minutes" type="number" value="360">
<label>演练</label><input name="exercise" type="checkbox" style="width:auto">
<span></span><button>发布</button></form>
<table><tbody id="issued"></tbody></table>
</section></main>
<script>
const SEV={critical:"特别严重",major:"严重",minor:"较重",warning:"一般",info:"提示"};
const STATE={active_unack:"未确认",active_ack:"已确认",cleared_unack:"已解除（未确认）",cleared_ack:"已解除"};
let selected=null, timer=null, me=null, feed=null;
const $=id=>document.getElementById(id);
function cell(tr,text,cls){const td=tr.insertCell();td.textContent=text??"";if(cls)td.className=cls;return td}
function when(ts){return ts?new Date(ts*1000).toLocaleString("zh-CN",{hour12:false}):""}
function loggedOut(){me=null;if(feed){feed.close();feed=null}$("login").style.display="flex"}
async function get(url){const r=await fetch(url);if(r.status===401){loggedOut();throw new Error("log in")}
 if(!r.ok)throw new Error(await r.text());return r.json()}
async function post(url,body){const r=await fetch(url,{method:"POST",headers:{"Content-Type":"application/json","X-Requested-By":"centre-page"},body:JSON.stringify(body)});
 if(r.status===401){loggedOut();return null}
 if(!r.ok){alert((await r.json()).detail||r.status);return null}return r.json()}
async function sites(){
 const rows=await get("/api/communities"), body=$("sites"); body.replaceChildren();
 for(const c of rows){const tr=body.insertRow();tr.className="site"+(c.id===selected?" sel":"");
  tr.onclick=()=>{selected=c.id;refresh()};
  cell(tr,c.name+" ("+c.id+")");
  cell(tr,c.hub_online==null?"?":c.hub_online?"在线":"离线",c.hub_online===false?"off":"on");
  cell(tr,c.link_up==null?"?":c.link_up?"通":"断",c.link_up===false?"off":"on");
  for(const s of ["critical","major","minor","warning"])cell(tr,(c.active||{})[s]||0,"n "+s);
  cell(tr,(c.active||{}).unacknowledged||0,"n");
  const w=cell(tr,"");for(const x of c.warnings||[]){const d=document.createElement("div");d.className="banner";
   const t=(x.texts||[])[0]||{};d.textContent=t.headline||t.event;w.appendChild(d)}}
}
async function board(){
 if(!selected)return; $("boardTitle").textContent="社区 "+selected+" 的报警";
 const rows=await get("/api/communities/"+encodeURIComponent(selected)+"/alerts?state=active"), body=$("board");
 body.replaceChildren();
 for(const a of rows){const tr=body.insertRow();
  cell(tr,SEV[a.severity]||a.severity,a.severity);cell(tr,a.message.zh);cell(tr,a.place);
  cell(tr,(STATE[a.state]||a.state)+(a.acknowledged_by?" · "+a.acknowledged_by:"")+(a.centre_escalated_by?" · 已上报":""));
  cell(tr,when(a.raised_at));const td=tr.insertCell();
  const base="/api/communities/"+encodeURIComponent(selected)+"/alerts/"+a.id+"/";
  for(const [label,act] of [["确认","ack"],["解除","clear"],["上报","escalate"]]){
   const b=document.createElement("button");b.className="act";b.textContent=label;
   b.onclick=async()=>{await post(base+act,{note:null});refresh()};td.appendChild(b)}}
}
async function issued(){const rows=await get("/api/warnings"), body=$("issued");body.replaceChildren();
 for(const w of rows.slice(0,10)){const tr=body.insertRow();cell(tr,when(w.sent));cell(tr,w.request.event);
  cell(tr,(w.request.sites||["全部社区"]).join("、"));
  const td=tr.insertCell();if(w.cancelled_at){td.textContent="已撤销"}else{const b=document.createElement("button");
   b.className="act";b.textContent="撤销";b.onclick=async()=>{await post("/api/warnings/"+w.id+"/cancel",{});issued()};td.appendChild(b)}}}
$("warn").onsubmit=async e=>{e.preventDefault();const f=new FormData(e.target);
 const sites=(f.get("sites")||"").split(/[,，\\s]+/).filter(Boolean);
 const body={sites:sites.length?sites:null,event:f.get("event"),severity:f.get("severity"),
  headline:f.get("headline"),description:f.get("description"),instruction:f.get("instruction")||null,
  expires_minutes:Number(f.get("expires_minutes")||360),exercise:f.get("exercise")==="on"};
 if(await post("/api/warnings",body)){e.target.reset();issued()}};
function refresh(){clearTimeout(timer);timer=setTimeout(()=>{sites();board()},150)}
function listen(){feed=new EventSource("/api/feed");
 feed.onopen=()=>{$("status").textContent="实时";refresh()};
 feed.onmessage=()=>refresh();
 feed.onerror=()=>{$("status").textContent="重连中…";if(me)get("/api/me").catch(()=>{})}}
function start(user){me=user;$("login").style.display="none";
 $("who").textContent=(me.display_name||me.name)+"（"+me.role+"）";
 document.body.classList.toggle("viewer",!me.permissions.handle_alerts);
 sites();issued();board();if(!feed)listen()}
$("loginForm").onsubmit=async e=>{e.preventDefault();const f=new FormData(e.target);
 const r=await fetch("/api/login",{method:"POST",headers:{"Content-Type":"application/json"},
  body:JSON.stringify({username:f.get("username"),password:f.get("password")})});
 if(!r.ok){$("loginError").textContent=(await r.json()).detail||r.status;return}
 e.target.reset();$("loginError").textContent="";start(await r.json())};
$("logout").onclick=async()=>{await fetch("/api/logout",{method:"POST",headers:{"X-Requested-By":"centre-page"}});loggedOut()};
get("/api/health").then(h=>{$("title").textContent="守望 · 指挥中心 "+h.centre});
fetch("/api/me").then(async r=>{if(r.ok)start(await r.json());else loggedOut()});
setInterval(()=>{if(me)sites()},10000);
</script></body></html>
"""
