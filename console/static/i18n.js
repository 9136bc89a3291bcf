/* Pantau console: Indonesian and English UI strings, and times in the city's time zone.
 *
 * t(key, {vars}) looks a key up in the current language (then English, then shows the key);
 * apply(root) fills elements marked data-i18n (text), data-i18n-placeholder, data-i18n-title.
 * The language (default Indonesian) is remembered in localStorage. */
(() => {
  "use strict";
  const P = (window.Pantau = window.Pantau || {});

  // key: [English, Indonesian]
  const STRINGS = {
    "app.title": ["Pantau", "Pantau"],

    "boot.loading": ["Loading…", "Memuat…"],

    "lang.title": ["Language: English (click for Bahasa Indonesia)", "Bahasa: Indonesia (klik untuk English)"],

    "common.loading": ["Loading…", "Memuat…"],

    "login.subtitle": ["City command center — sign in", "Pusat komando kota — masuk"],
    "login.username": ["User name", "Nama pengguna"],
    "login.password": ["Password", "Kata sandi"],
    "login.submit": ["Sign in", "Masuk"],
    "login.bad": ["Wrong user name or password", "Nama pengguna atau kata sandi salah"],
    "login.tooMany": ["Too many attempts, try again in {s} s", "Terlalu banyak percobaan, coba lagi dalam {s} detik"],
    "login.missing": ["Enter your user name and password", "Isi nama pengguna dan kata sandi"],
    "login.failed": ["Cannot sign in: {detail}", "Tidak dapat masuk: {detail}"],
    "login.expired": ["Your session has ended: sign in again", "Sesi Anda telah berakhir: silakan masuk lagi"],

    "nav.queue": ["Queue", "Antrean"],
    "nav.map": ["Map", "Peta"],
    "nav.cases": ["Cases", "Kasus"],
    "nav.handover": ["Handover", "Serah terima"],
    "nav.health": ["Health", "Kondisi"],
    "nav.zones": ["Zones", "Zona"],
    "nav.admin": ["Admin", "Admin"],
    "nav.logout": ["Sign out", "Keluar"],
    "nav.help": ["Keyboard shortcuts (?)", "Pintasan keyboard (?)"],

    "conn.live": ["live", "live · terhubung"],
    "conn.down": ["reconnecting…", "terputus · menyambung ulang…"],
    "conn.liveTitle": ["Receiving alerts as they happen", "Menerima peringatan secara langsung"],
    "conn.downTitle": ["Connection lost: reconnecting; the queue may be out of date", "Koneksi terputus: menyambung ulang; antrean mungkin belum terbaru"],

    "feed.resync": ["The feed fell behind and was refreshed", "Umpan tertinggal dan telah dimuat ulang"],

    "sound.on": ["Sound on", "Suara aktif"],
    "sound.off": ["Sound off", "Suara mati"],
    "sound.title": ["Sound on a new P1 alert", "Bunyi saat ada peringatan P1 baru"],

    "role.operator": ["operator", "operator"],
    "role.responder": ["responder", "petugas lapangan"],
    "role.planner": ["planner", "perencana"],
    "role.admin": ["admin", "admin"],
    "role.ingest": ["machine", "mesin"],

    "prio.1": ["P1 — critical", "P1 — kritis"],
    "prio.2": ["P2 — high", "P2 — tinggi"],
    "prio.3": ["P3 — medium", "P3 — sedang"],
    "prio.4": ["P4 — low", "P4 — rendah"],

    "status.new": ["new", "Baru"],
    "status.acknowledged": ["acknowledged", "Diterima"],
    "status.assigned": ["assigned", "Ditugaskan"],
    "status.resolved": ["resolved", "Selesai"],
    "status.closed": ["closed", "Ditutup"],
    "status.unknown": ["unknown", "tidak diketahui"],

    "sev.critical": ["critical", "kritis"],
    "sev.high": ["high", "tinggi"],
    "sev.medium": ["medium", "sedang"],
    "sev.low": ["low", "rendah"],

    "kind.sensor": ["sensor", "sensor"],
    "kind.camera": ["camera", "kamera"],
    "kind.manual": ["manual report", "laporan manual"],
    "kind.correlation": ["correlation", "korelasi"],

    "resp.notified": ["notified", "diberi tahu"],
    "resp.en_route": ["En route", "Dalam perjalanan"],
    "resp.on_scene": ["On scene", "Di lokasi"],
    "resp.done": ["Done", "Selesai"],
    "resp.stood_down": ["stood down", "dibatalkan"],

    "close.handled": ["handled", "ditangani"],
    "close.false_alarm": ["false alarm", "alarm palsu"],
    "close.duplicate": ["duplicate", "duplikat"],
    "close.test": ["test", "uji coba"],

    "phase.raised": ["raised", "muncul"],
    "phase.cleared": ["cleared", "pulih"],

    "change.opened": ["opened", "dibuka"],
    "change.repeated": ["repeated", "berulang"],
    "change.cleared": ["cleared", "kondisi pulih"],
    "change.reopened": ["reopened", "dibuka lagi"],
    "change.acknowledged": ["acknowledged", "diterima"],
    "change.assigned": ["assigned", "ditugaskan"],
    "change.resolved": ["resolved", "diselesaikan"],
    "change.closed": ["closed", "ditutup"],
    "change.noted": ["note", "catatan"],
    "change.responder": ["responder status", "status petugas"],
    "change.suppressed": ["suppressed", "diredam"],
    "change.unsuppressed": ["unsuppressed", "tidak diredam"],
    "change.escalated": ["escalated", "dieskalasi"],
    "change.correlated": ["correlated", "dikorelasikan"],
    "change.sop": ["procedure step", "langkah prosedur"],
    "change.restored": ["restored after a database restore", "dipulihkan setelah pemulihan basis data"],

    "type.citizen_report": ["citizen report", "laporan warga"],
    "type.fire": ["fire", "kebakaran"],
    "type.flood": ["flood", "banjir"],
    "type.accident": ["accident", "kecelakaan"],
    "type.crime": ["crime", "kejahatan"],
    "type.other": ["other", "lainnya"],
    "type.water_level_high": ["high water level", "muka air tinggi"],
    "type.intrusion": ["intrusion", "penyusupan"],
    "type.crowd": ["crowd", "kerumunan"],
    "type.line_crossing": ["line crossing", "melintasi garis"],
    "type.abandoned_object": ["abandoned object", "barang tertinggal"],
    "type.tamper": ["camera tampering", "gangguan kamera"],
    "type.video_loss": ["video loss", "video hilang"],
    "type.water_level": ["water level", "muka air"],
    "type.rainfall": ["rainfall", "curah hujan"],
    "type.pm25": ["PM2.5", "PM2.5"],
    "type.smoke": ["smoke", "asap"],
    "type.temperature": ["temperature", "suhu"],
    "type.traffic_density": ["traffic density", "kepadatan lalu lintas"],
    "type.panic_button": ["panic button", "tombol darurat"],

    "flag.cleared": ["condition cleared", "kondisi pulih"],
    "flag.suppressed": ["suppressed", "diredam"],
    "flag.flapping": ["flapping", "naik-turun"],
    "flag.escalated": ["escalated ×{n}", "eskalasi ×{n}"],

    "age.s": ["s", "dtk"],
    "age.m": ["m", "mnt"],
    "age.h": ["h", "j"],
    "age.d": ["d", "hr"],

    "queue.raise": ["Raise alert", "Buat peringatan"],
    "queue.link": ["Link into case", "Gabung jadi kasus"],
    "queue.addToCase": ["Add to case", "Tambah ke kasus"],
    "queue.clearSel": ["Clear selection", "Hapus pilihan"],
    "queue.selected": ["{n} selected", "{n} dipilih"],
    "queue.pick": ["Select for a case (x)", "Pilih untuk kasus (x)"],
    "queue.empty": ["No open alerts", "Tidak ada peringatan terbuka"],
    "queue.emptyFiltered": ["No open alert matches the filters ({n} open in all)", "Tidak ada peringatan yang cocok dengan filter ({n} terbuka seluruhnya)"],
    "queue.shown": ["{n} of {total} open", "{n} dari {total} terbuka"],

    "filter.priority": ["Priority", "Prioritas"],
    "filter.district": ["District", "Kecamatan"],
    "filter.all": ["All", "Semua"],

    "col.priority": ["Pri.", "Prio."],
    "col.alert": ["Alert", "Peringatan"],
    "col.source": ["Source", "Sumber"],
    "col.district": ["District", "Kecamatan"],
    "col.count": ["Count", "Jumlah"],
    "col.age": ["Since", "Sejak"],
    "col.status": ["Status", "Status"],
    "col.assignee": ["Assignee", "Petugas"],

    "detail.close": ["Close the panel (Esc)", "Tutup panel (Esc)"],
    "detail.version": ["version {v}", "versi {v}"],
    "detail.shortcut": ["Shortcut: {key}", "Pintasan: {key}"],
    "detail.readOnly": ["Read only: your role cannot act on alerts", "Hanya baca: peran Anda tidak dapat menindak peringatan"],
    "detail.why": ["Why this priority", "Alasan prioritas"],
    "detail.facts": ["Details", "Rincian"],
    "detail.evidenceData": ["Detector data", "Data detektor"],
    "detail.map": ["Location", "Lokasi"],
    "detail.related": ["Related alerts", "Peringatan terkait"],
    "detail.cases": ["Cases", "Kasus"],
    "detail.notes": ["Notes", "Catatan"],
    "detail.noNotes": ["No notes yet", "Belum ada catatan"],
    "detail.audit": ["Audit trail", "Jejak audit"],
    "detail.deliveries": ["Delivery log", "Log pengiriman"],
    "detail.noDeliveries": ["Nothing was sent for this alert", "Tidak ada pesan terkirim untuk peringatan ini"],
    "detail.loading": ["Loading…", "Memuat…"],
    "detail.error": ["Cannot show this alert", "Peringatan ini tidak dapat ditampilkan"],
    "detail.loadFailed": ["Cannot load the alert's details: {detail}", "Rincian peringatan tidak dapat dimuat: {detail}"],

    "f.type": ["Type", "Jenis"],
    "f.source": ["Camera / sensor", "Kamera / sensor"],
    "f.zone": ["Zone", "Zona"],
    "f.district": ["District", "Kecamatan"],
    "f.location": ["Coordinates", "Koordinat"],
    "f.firstSeen": ["Raised", "Muncul"],
    "f.lastSeen": ["Last seen", "Terakhir terlihat"],
    "f.count": ["Repeats", "Pengulangan"],
    "f.severity": ["Severity", "Tingkat"],
    "f.confidence": ["Confidence", "Keyakinan"],
    "f.unverified": ["motion only (not verified)", "hanya gerakan (belum diverifikasi)"],
    "f.acknowledged": ["Acknowledged", "Diterima"],
    "f.assignee": ["Assignee", "Petugas"],
    "f.responders": ["Responders", "Petugas lapangan"],
    "f.resolved": ["Resolved", "Diselesaikan"],
    "f.closed": ["Closed", "Ditutup"],
    "f.suppressedBy": ["Suppressed by", "Diredam oleh"],
    "f.correlation": ["Correlation rule", "Aturan korelasi"],
    "f.lastChange": ["Last change", "Perubahan terakhir"],
    "f.reason": ["reason", "alasan"],

    "act.ack": ["Acknowledge", "Terima"],
    "act.assign": ["Assign", "Tugaskan"],
    "act.resolve": ["Resolve", "Selesaikan"],
    "act.close": ["Close", "Tutup"],
    "act.note": ["Add note", "Tambah catatan"],
    "act.noteSave": ["Save note", "Simpan catatan"],
    "act.report": ["Report", "Lapor"],
    "act.notAllowed": ["{action} is not possible: the alert is {status} or your role cannot do it", "{action} tidak dapat dilakukan: peringatan berstatus {status} atau peran Anda tidak mengizinkan"],

    "ok.ack": ["Acknowledged", "Diterima"],
    "ok.assign": ["Assigned", "Ditugaskan"],
    "ok.resolve": ["Resolved", "Diselesaikan"],
    "ok.close": ["Closed", "Ditutup"],
    "ok.note": ["Note added", "Catatan ditambahkan"],
    "ok.report": ["Status reported", "Status dilaporkan"],

    "dlg.ok": ["OK", "OK"],
    "dlg.cancel": ["Cancel", "Batal"],
    "dlg.required": ["This field is required", "Kolom ini wajib diisi"],
    "dlg.assignee": ["Assign to (responder or team)", "Tugaskan kepada (petugas atau tim)"],
    "dlg.assigneeInvalid": ["Letters, digits and _ . @ - only, starting with a letter or digit", "Hanya huruf, angka dan _ . @ -, diawali huruf atau angka"],
    "dlg.reasonOptional": ["Reason (optional, for the audit)", "Alasan (opsional, untuk audit)"],
    "dlg.closeReason": ["Close reason", "Alasan penutupan"],
    "dlg.noteText": ["Note", "Catatan"],

    "sop.title": ["Procedure (SOP)", "Prosedur (SOP)"],
    "sop.summary": ["{done}/{total} done · {open} required open", "{done}/{total} selesai · {open} wajib belum"],
    "sop.required": ["required before resolving", "wajib sebelum diselesaikan"],
    "sop.requiredShort": ["required", "wajib"],
    "sop.by": ["✓ {user}", "✓ {user}"],
    "sop.step": ["step", "langkah"],
    "sop.override": ["SOP override", "pengecualian SOP"],
    "sop.overrideTitle": ["Override the procedure", "Kecualikan prosedur"],
    "sop.overrideReason": ["Why resolve with steps still open (supervisor)", "Alasan menyelesaikan dengan langkah yang belum dikerjakan (supervisor)"],
    "sop.overrideShort": ["Give a reason of at least 3 characters", "Beri alasan minimal 3 karakter"],
    "sop.overrideOk": ["Override and send", "Kecualikan dan kirim"],

    "evidence.title": ["Evidence", "Bukti"],
    "evidence.snapshotAlt": ["Evidence snapshot with the detection box", "Cuplikan bukti dengan kotak deteksi"],
    "evidence.snapshotMissing": ["The snapshot cannot be shown", "Cuplikan tidak dapat ditampilkan"],
    "evidence.noRole": ["Your role may not view evidence", "Peran Anda tidak boleh melihat bukti"],
    "evidence.none": ["No incidents recorded", "Tidak ada insiden tercatat"],
    "evidence.noSnapshot": ["No snapshot for this alert", "Tidak ada cuplikan untuk peringatan ini"],
    "evidence.show": ["Snapshot", "Cuplikan"],
    "evidence.clip": ["Download clip", "Unduh klip"],
    "evidence.play": ["Play clip", "Putar klip"],
    "evidence.clipOf": ["Clip of", "Klip dari"],
    "player.alt": ["A frame of the evidence clip", "Satu bingkai klip bukti"],
    "player.play": ["Play", "Putar"],
    "player.pause": ["Pause", "Jeda"],
    "player.back": ["One frame back", "Mundur satu bingkai"],
    "player.forward": ["One frame forward", "Maju satu bingkai"],
    "player.scrub": ["Position in the clip", "Posisi dalam klip"],
    "player.moment": ["the incident's moment", "saat insiden"],
    "player.loading": ["Opening the clip…", "Membuka klip…"],
    "player.fetching": ["Loading frames {n} of {total}…", "Memuat bingkai {n} dari {total}…"],
    "player.blurred": ["Faces are blurred", "Wajah disamarkan"],
    "player.failed": ["The clip cannot be played: {detail}", "Klip tidak dapat diputar: {detail}"],
    "player.close": ["Close the player", "Tutup pemutar"],
    "evidence.when": ["When", "Waktu"],
    "evidence.phase": ["Phase", "Fase"],
    "evidence.severity": ["Severity", "Tingkat"],
    "evidence.confidence": ["Conf.", "Yakin"],
    "evidence.what": ["Incident", "Insiden"],

    "audit.when": ["When", "Waktu"],
    "audit.who": ["Who", "Siapa"],
    "audit.what": ["What", "Apa"],
    "audit.version": ["Ver.", "Versi"],
    "audit.detail": ["Detail", "Rincian"],

    "deliv.when": ["Created", "Dibuat"],
    "deliv.channel": ["Channel", "Saluran"],
    "deliv.recipient": ["Recipient", "Penerima"],
    "deliv.kind": ["Kind", "Jenis"],
    "deliv.status": ["Status", "Status"],
    "deliv.attempts": ["Tries", "Coba"],
    "deliv.sent": ["Sent", "Terkirim"],

    "map.title": ["Map of cameras, sensors and open alerts", "Peta kamera, sensor dan peringatan terbuka"],
    "map.zoomIn": ["Zoom in", "Perbesar"],
    "map.zoomOut": ["Zoom out", "Perkecil"],
    "map.reset": ["Reset the view", "Kembalikan tampilan"],
    "map.camera": ["Camera", "Kamera"],
    "map.sensor": ["Sensor", "Sensor"],
    "map.summary": ["{n} open alerts · {unplaced} without a location", "{n} peringatan terbuka · {unplaced} tanpa lokasi"],
    "map.hint": ["Wheel to zoom, drag to pan, click an alert to open it", "Gulir untuk zoom, seret untuk menggeser, klik peringatan untuk membukanya"],

    "manual.title": ["Raise an alert by hand", "Buat peringatan manual"],
    "manual.type": ["Type", "Jenis"],
    "manual.severity": ["Severity", "Tingkat"],
    "manual.titleField": ["Title", "Judul"],
    "manual.description": ["Description", "Keterangan"],
    "manual.district": ["District", "Kecamatan"],
    "manual.noDistrict": ["— none —", "— tidak ada —"],
    "manual.reporter": ["Reporter (name or phone, optional)", "Pelapor (nama atau telepon, opsional)"],
    "manual.lat": ["Latitude", "Lintang"],
    "manual.lon": ["Longitude", "Bujur"],
    "manual.photo": ["Photo (JPEG, at most 5 MB, optional)", "Foto (JPEG, maks. 5 MB, opsional)"],
    "manual.pickHint": ["Click on the map to place the alert", "Klik pada peta untuk menentukan lokasi"],
    "manual.notPicked": ["No place picked yet", "Lokasi belum dipilih"],
    "manual.picked": ["Place: {lat}, {lon}", "Lokasi: {lat}, {lon}"],
    "manual.submit": ["Raise alert", "Buat peringatan"],
    "manual.needTitle": ["Give a title of at least 3 characters", "Beri judul minimal 3 karakter"],
    "manual.needPlace": ["Pick the place on the map (or type its coordinates)", "Pilih lokasi pada peta (atau ketik koordinatnya)"],
    "manual.photoTooBig": ["The photo is {mb} MB: at most 5 MB", "Ukuran foto {mb} MB: maksimal 5 MB"],
    "manual.photoNotJpeg": ["The photo must be a JPEG image", "Foto harus berupa gambar JPEG"],
    "manual.photoUnreadable": ["The photo cannot be read", "Foto tidak dapat dibaca"],
    "manual.created": ["Alert raised", "Peringatan dibuat"],

    "cases.title": ["Cases", "Kasus"],
    "cases.refresh": ["Refresh", "Muat ulang"],
    "cases.hint": ["Select alerts in the queue (checkbox or x), then link them into a new case or add them to one here.", "Pilih peringatan di antrean (kotak centang atau x), lalu gabungkan menjadi kasus baru atau tambahkan ke kasus di sini."],
    "cases.noneSelected": ["No alerts selected in the queue", "Tidak ada peringatan dipilih di antrean"],
    "cases.empty": ["No cases yet", "Belum ada kasus"],
    "cases.meta": ["by {user} · {at} · {n} alerts", "oleh {user} · {at} · {n} peringatan"],
    "cases.addSelected": ["Add selected ({n})", "Tambah yang dipilih ({n})"],
    "cases.added": ["{n} alerts added to “{title}”", "{n} peringatan ditambahkan ke “{title}”"],
    "cases.linkTitle": ["Link {n} alerts into a new case", "Gabungkan {n} peringatan menjadi kasus baru"],
    "cases.caseTitle": ["Case title", "Judul kasus"],
    "cases.titleShort": ["Give a title of at least 3 characters", "Beri judul minimal 3 karakter"],
    "cases.create": ["Create case", "Buat kasus"],
    "cases.created": ["Case “{title}” created", "Kasus “{title}” dibuat"],
    "cases.addTitle": ["Add {n} alerts to a case", "Tambahkan {n} peringatan ke kasus"],
    "cases.pick": ["Case", "Kasus"],
    "cases.add": ["Add", "Tambah"],

    "handover.title": ["Shift handover", "Serah terima shift"],
    "handover.write": ["Write the handover for the next shift", "Tulis serah terima untuk shift berikutnya"],
    "handover.placeholder": ["What the next shift must know: open alerts, work in progress, equipment…", "Yang perlu diketahui shift berikutnya: peringatan terbuka, pekerjaan berjalan, peralatan…"],
    "handover.submit": ["Save handover", "Simpan serah terima"],
    "handover.openNow": ["{n} alerts open now (recorded with the handover)", "{n} peringatan terbuka saat ini (dicatat bersama serah terima)"],
    "handover.empty": ["No handovers yet", "Belum ada serah terima"],
    "handover.signed": ["Read and signed by {user} · {at}", "Dibaca dan ditandatangani oleh {user} · {at}"],
    "handover.sign": ["Read and sign", "Baca dan tanda tangani"],
    "handover.waiting": ["Waiting for the next shift to sign", "Menunggu tanda tangan shift berikutnya"],
    "handover.unsigned": ["Not signed yet", "Belum ditandatangani"],
    "handover.openAtTime": ["{n} alerts open", "{n} peringatan terbuka"],
    "handover.signedOk": ["Handover signed", "Serah terima ditandatangani"],
    "handover.tooShort": ["Write at least 3 characters", "Tulis minimal 3 karakter"],
    "handover.saved": ["Handover saved", "Serah terima disimpan"],

    "health.title": ["Device health", "Kondisi perangkat"],
    "health.cameras": ["Cameras", "Kamera"],
    "health.sensors": ["Sensors (last 60 minutes)", "Sensor (60 menit terakhir)"],
    "health.updated": ["Updated {at} · every 10 s", "Diperbarui {at} · setiap 10 detik"],
    "health.camera": ["Camera", "Kamera"],
    "health.state": ["State", "Keadaan"],
    "health.fps": ["FPS", "FPS"],
    "health.lastFrame": ["Last frame", "Bingkai terakhir"],
    "health.reconnects": ["Reconn.", "Sambung ulang"],
    "health.tamper": ["Tamper", "Gangguan"],
    "health.noTamper": ["none", "tidak ada"],
    "health.openAlerts": ["Open alerts", "Peringatan terbuka"],
    "health.error": ["Error", "Galat"],
    "health.sensor": ["Sensor", "Sensor"],
    "health.type": ["Type", "Jenis"],
    "health.value": ["Latest value", "Nilai terakhir"],
    "health.at": ["Age", "Umur"],
    "health.series": ["Last 60 min", "60 menit terakhir"],
    "health.noSensors": ["No sensor readings in the last 60 minutes", "Tidak ada pembacaan sensor dalam 60 menit terakhir"],
    "health.sparkLabel": ["min {min} · max {max}", "min {min} · maks {max}"],

    "cam.online": ["online", "daring"],
    "cam.offline": ["offline", "luring"],
    "cam.stalled": ["stalled", "macet"],
    "cam.reconnecting": ["reconnecting", "menyambung ulang"],
    "cam.unknown": ["unknown", "tidak diketahui"],

    "tamper.covered": ["covered", "tertutup"],
    "tamper.defocused": ["defocused", "tidak fokus"],
    "tamper.moved": ["moved", "bergeser"],
    "tamper.tampered": ["tampered", "diganggu"],

    "zones.title": ["Zone editor", "Penyunting zona"],
    "zones.camera": ["Camera", "Kamera"],
    "zones.reload": ["Reload", "Muat ulang"],
    "zones.addZone": ["+ Zone", "+ Zona"],
    "zones.addMask": ["+ Mask", "+ Masker"],
    "zones.save": ["Save", "Simpan"],
    "zones.saved": ["Zones saved: the camera uses them within seconds", "Zona disimpan: kamera memakainya dalam beberapa detik"],
    "zones.unsaved": ["unsaved changes", "ada perubahan belum disimpan"],
    "zones.none": ["No zones or masks: add one", "Tidak ada zona atau masker: tambahkan satu"],
    "zones.noStill": ["No still image of this camera yet: drawing on a blank frame", "Belum ada gambar diam dari kamera ini: menggambar pada bingkai kosong"],
    "zones.noCameras": ["No cameras in the configuration", "Tidak ada kamera dalam konfigurasi"],
    "zones.zone": ["Zone", "Zona"],
    "zones.unnamed": ["(no name)", "(tanpa nama)"],
    "zones.maskN": ["Mask {n}", "Masker {n}"],
    "zones.points": ["{n} pts", "{n} titik"],
    "zones.name": ["Name", "Nama"],
    "zones.criticality": ["Criticality", "Kekritisan"],
    "zones.schedule": ["Schedule (optional)", "Jadwal (opsional)"],
    "zones.rules": ["Rules (JSON list)", "Aturan (daftar JSON)"],
    "zones.rulesHint": ["e.g. [\"intrusion\", {\"crowd\": {\"max_people\": 25}}]; the server checks them on save", "mis. [\"intrusion\", {\"crowd\": {\"max_people\": 25}}]; server memeriksanya saat disimpan"],
    "zones.rulesNotList": ["The rules must be a JSON list", "Aturan harus berupa daftar JSON"],
    "zones.rulesBadJson": ["Not valid JSON: {detail}", "JSON tidak valid: {detail}"],
    "zones.closePolygon": ["Close polygon", "Tutup poligon"],
    "zones.deletePoint": ["Delete point", "Hapus titik"],
    "zones.redraw": ["Draw again", "Gambar ulang"],
    "zones.deleteZone": ["Delete zone", "Hapus zona"],
    "zones.deleteMask": ["Delete mask", "Hapus masker"],
    "zones.delete": ["Delete", "Hapus"],
    "zones.deleteConfirm": ["Delete it? Nothing is saved until you press Save.", "Hapus? Tidak ada yang tersimpan sebelum Anda menekan Simpan."],
    "zones.insertPoint": ["Drag to insert a point", "Seret untuk menyisipkan titik"],
    "zones.drawHint": ["Click on the image to add points; click the first point or press Enter to close the polygon.", "Klik pada gambar untuk menambah titik; klik titik pertama atau tekan Enter untuk menutup poligon."],
    "zones.editHint": ["Drag points to move them; drag an edge's middle dot to add one; select a point and press Delete to remove it.", "Seret titik untuk memindahkannya; seret titik tengah sisi untuk menambah; pilih titik lalu tekan Delete untuk menghapus."],
    "zones.needThree": ["A polygon needs at least 3 points", "Poligon memerlukan minimal 3 titik"],
    "zones.zoneNeedsThree": ["Zone {name} needs at least 3 points", "Zona {name} memerlukan minimal 3 titik"],
    "zones.maskNeedsThree": ["Mask {n} needs at least 3 points", "Masker {n} memerlukan minimal 3 titik"],
    "zones.conflict": ["Someone changed these zones meanwhile: {detail}", "Zona ini telah diubah orang lain: {detail}"],
    "zones.refused": ["Not saved: {detail}", "Tidak disimpan: {detail}"],
    "zones.discardTitle": ["Unsaved changes", "Perubahan belum disimpan"],
    "zones.discard": ["Discard the unsaved changes to these zones?", "Buang perubahan zona yang belum disimpan?"],
    "zones.discardOk": ["Discard", "Buang"],

    "admin.title": ["Administration", "Administrasi"],
    "admin.access": ["Evidence access log", "Log akses bukti"],
    "admin.audit": ["Console audit log", "Log audit konsol"],
    "admin.user": ["User", "Pengguna"],
    "admin.refresh": ["Show", "Tampilkan"],
    "admin.role": ["Role", "Peran"],
    "admin.incident": ["Incident", "Insiden"],
    "admin.kind": ["Kind", "Jenis"],
    "admin.kind.snapshot": ["snapshot", "cuplikan"],
    "admin.kind.clip": ["clip", "klip"],
    "admin.kind.clip_view": ["clip viewed", "klip ditonton"],
    "admin.kind.snapshot_download": ["snapshot downloaded", "cuplikan diunduh"],
    "admin.action": ["Action", "Tindakan"],
    "admin.none": ["Nothing recorded", "Tidak ada catatan"],

    "help.title": ["Keyboard shortcuts", "Pintasan keyboard"],
    "help.close": ["Close", "Tutup"],
    "help.move": ["move the selection in the queue", "pindahkan pilihan di antrean"],
    "help.open": ["open the selected alert", "buka peringatan yang dipilih"],
    "help.ack": ["acknowledge", "terima"],
    "help.assign": ["assign", "tugaskan"],
    "help.resolve": ["resolve", "selesaikan"],
    "help.close2": ["close (with a reason)", "tutup (dengan alasan)"],
    "help.note": ["add a note", "tambah catatan"],
    "help.manual": ["raise an alert by hand", "buat peringatan manual"],
    "help.pick": ["select for a case", "pilih untuk kasus"],
    "help.goQueue": ["go to the queue", "ke antrean"],
    "help.goMap": ["go to the map", "ke peta"],
    "help.goHealth": ["go to device health", "ke kondisi perangkat"],
    "help.goHandover": ["go to the shift handover", "ke serah terima shift"],
    "help.goCases": ["go to cases", "ke kasus"],
    "help.help": ["show this help", "tampilkan bantuan ini"],
    "help.esc": ["close panels and dialogs", "tutup panel dan dialog"],
    "help.typing": ["Shortcuts are ignored while typing in a field.", "Pintasan diabaikan saat mengetik di kolom isian."],

    "err.network": ["The server cannot be reached", "Server tidak dapat dihubungi"],
    "err.generic": ["Something went wrong", "Terjadi kesalahan"],
    "err.load": ["Cannot load: {detail}", "Tidak dapat memuat: {detail}"],
    "err.config": ["Cannot load the city configuration: {detail}", "Konfigurasi kota tidak dapat dimuat: {detail}"],
  };

  const en = {};
  const id = {};
  for (const [key, [english, indonesian]] of Object.entries(STRINGS)) {
    en[key] = english;
    id[key] = indonesian;
  }

  const DICT = { en, id };
  const LOCALES = { en: "en-GB", id: "id-ID" };
  const DEFAULT_ZONE = "Asia/Jakarta";

  let lang = "id";
  try {
    const saved = window.localStorage.getItem("pantau.lang");
    if (saved && DICT[saved]) lang = saved;
  } catch {
    /* no storage: default language */
  }
  let timeZone = DEFAULT_ZONE;
  const formatters = new Map();

  function t(key, vars) {
    let text = DICT[lang][key];
    if (text === undefined) text = en[key];
    if (text === undefined) return key;
    if (vars) text = text.replace(/\{(\w+)\}/g, (m, name) => (vars[name] === undefined || vars[name] === null ? m : String(vars[name])));
    return text;
  }

  /** The translation of key, or fallback when there is none (alert types, server enums). */
  function tOr(key, fallback) {
    return DICT[lang][key] !== undefined || en[key] !== undefined ? t(key) : fallback;
  }

  function apply(root = document) {
    for (const node of root.querySelectorAll("[data-i18n]")) node.textContent = t(node.getAttribute("data-i18n"));
    for (const node of root.querySelectorAll("[data-i18n-placeholder]")) node.setAttribute("placeholder", t(node.getAttribute("data-i18n-placeholder")));
    for (const node of root.querySelectorAll("[data-i18n-title]")) {
      node.setAttribute("title", t(node.getAttribute("data-i18n-title")));
      node.setAttribute("aria-label", t(node.getAttribute("data-i18n-title")));
    }
    document.documentElement.lang = lang;
  }

  function setLang(next) {
    if (!DICT[next] || next === lang) return;
    lang = next;
    formatters.clear();
    try {
      window.localStorage.setItem("pantau.lang", lang);
    } catch {
      /* remembered for this page only */
    }
    if (P.emit) P.emit("lang", lang);
  }

  function setTimeZone(zone) {
    const wanted = zone || DEFAULT_ZONE;
    try {
      new Intl.DateTimeFormat("en", { timeZone: wanted }).format(0);
      timeZone = wanted;
    } catch {
      timeZone = DEFAULT_ZONE;
    }
    formatters.clear();
  }

  function formatter(kind) {
    const key = `${kind}|${lang}|${timeZone}`;
    let f = formatters.get(key);
    if (!f) {
      if (kind === "abbr") {
        // Indonesian names for Indonesian zones (WIB, WITA, WIT) in both languages.
        f = new Intl.DateTimeFormat("id-ID", { timeZone, timeZoneName: "short" });
      } else {
        f = new Intl.DateTimeFormat(LOCALES[lang], {
          timeZone,
          year: "numeric",
          month: "2-digit",
          day: "2-digit",
          hour: "2-digit",
          minute: "2-digit",
          second: "2-digit",
          hourCycle: "h23",
        });
      }
      formatters.set(key, f);
    }
    return f;
  }

  function zoneAbbr(date = new Date()) {
    const part = formatter("abbr").formatToParts(date).find((p) => p.type === "timeZoneName");
    return part ? part.value : timeZone;
  }

  /** "27/11/2026, 21.00.00 WIB": a moment in the city's time zone, with its abbreviation. */
  function dateTime(value) {
    if (value === undefined || value === null || value === "") return "—";
    const date = new Date(value);
    if (Number.isNaN(date.getTime())) return String(value);
    return `${formatter("full").format(date)} ${zoneAbbr(date)}`;
  }

  /** "3m 12s": how long ago, for live counters. */
  function age(ms) {
    if (!Number.isFinite(ms)) return "—";
    const s = Math.max(0, Math.floor(ms / 1000));
    const u = { s: t("age.s"), m: t("age.m"), h: t("age.h"), d: t("age.d") };
    const pad = (n) => String(n).padStart(2, "0");
    if (s < 60) return `${s}${u.s}`;
    const m = Math.floor(s / 60);
    if (m < 60) return `${m}${u.m} ${pad(s % 60)}${u.s}`;
    const h = Math.floor(m / 60);
    if (h < 24) return `${h}${u.h} ${pad(m % 60)}${u.m}`;
    return `${Math.floor(h / 24)}${u.d} ${h % 24}${u.h}`;
  }

  P.i18n = {
    t,
    tOr,
    apply,
    setLang,
    lang: () => lang,
    setTimeZone,
    timeZone: () => timeZone,
    zoneAbbr,
    dateTime,
    age,
    dictionaries: DICT,
  };
})();
