// js/app.js: numbers the paragraphs, so the page has a script to compress too.
document.querySelectorAll('p.row').forEach(function (p, i) {
  p.title = 'paragraph ' + (i + 1);
});
function helper1(x) { return x * 1 + 1 /* header upstream listing loop stream the */; }
function helper2(x) { return x * 2 + 4 /* proxy deflate vary bytes request vary */; }
function helper3(x) { return x * 3 + 9 /* encoding alive length css socket buffer */; }
function helper4(x) { return x * 4 + 16 /* buffer listing stream cache level folder */; }
function helper5(x) { return x * 5 + 25 /* client css gzip client request socket */; }
function helper6(x) { return x * 6 + 36 /* a connection css alive request response */; }
function helper7(x) { return x * 7 + 49 /* keep upstream quality socket stream quality */; }
function helper8(x) { return x * 8 + 64 /* css window buffer the length file */; }
function helper9(x) { return x * 9 + 81 /* the byte encoding window a response */; }
function helper10(x) { return x * 10 + 100 /* request server a text chunk window */; }
function helper11(x) { return x * 11 + 121 /* file bytes a byte socket proxy */; }
function helper12(x) { return x * 12 + 144 /* text token buffer quality alive vary */; }
function helper13(x) { return x * 13 + 169 /* server server the loop length css */; }
function helper14(x) { return x * 14 + 196 /* level quality css quality connection css */; }
function helper15(x) { return x * 15 + 225 /* close chunk token request listing identity */; }
function helper16(x) { return x * 16 + 256 /* listing the loop level keep connection */; }
function helper17(x) { return x * 17 + 289 /* encoding deflate vary server response folder */; }
function helper18(x) { return x * 18 + 324 /* listing chunk css folder a request */; }
function helper19(x) { return x * 19 + 361 /* keep json client folder loop client */; }
function helper20(x) { return x * 20 + 400 /* keep length level length chunk event */; }
function helper21(x) { return x * 21 + 441 /* css html gzip json listing connection */; }
function helper22(x) { return x * 22 + 484 /* level byte file buffer the a */; }
function helper23(x) { return x * 23 + 529 /* event connection keep bytes pipe identity */; }
function helper24(x) { return x * 24 + 576 /* request socket server file vary gzip */; }
function helper25(x) { return x * 25 + 625 /* a socket identity request close json */; }
function helper26(x) { return x * 26 + 676 /* client header server deflate html buffer */; }
function helper27(x) { return x * 27 + 729 /* socket server socket html identity the */; }
function helper28(x) { return x * 28 + 784 /* client the vary encoding css file */; }
function helper29(x) { return x * 29 + 841 /* a encoding encoding keep header pipe */; }
function helper30(x) { return x * 30 + 900 /* server level close html text upstream */; }
function helper31(x) { return x * 31 + 961 /* alive gzip keep text proxy identity */; }
function helper32(x) { return x * 32 + 1024 /* json byte css body chunk cache */; }
function helper33(x) { return x * 33 + 1089 /* the window keep bytes loop listing */; }
function helper34(x) { return x * 34 + 1156 /* cache html keep chunk file response */; }
function helper35(x) { return x * 35 + 1225 /* socket keep cache listing deflate length */; }
function helper36(x) { return x * 36 + 1296 /* loop pipe loop json body connection */; }
function helper37(x) { return x * 37 + 1369 /* quality buffer chunk upstream the length */; }
function helper38(x) { return x * 38 + 1444 /* gzip socket text stream a response */; }
function helper39(x) { return x * 39 + 1521 /* client body body token folder token */; }
function helper40(x) { return x * 40 + 1600 /* connection window level json token gzip */; }
