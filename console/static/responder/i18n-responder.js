/* Pantau responder: the phone page's strings, in English and Indonesian, added to the operator UI's
 * dictionaries (i18n.js: t(), the language switch and the city's time zone are shared). */
(() => {
  "use strict";
  const P = window.Pantau;

  // key: [English, Indonesian]
  const STRINGS = {
    "r.title": ["Pantau — Responder", "Pantau — Petugas"],
    "r.subtitle": ["Field responders — sign in", "Petugas lapangan — masuk"],
    "r.mine": ["My alerts", "Peringatan saya"],
    "r.empty": ["Nothing assigned to you or your team right now.", "Tidak ada tugas untuk Anda atau tim Anda saat ini."],
    "r.back": ["Back", "Kembali"],
    "r.refresh": ["Refresh", "Muat ulang"],
    "r.since": ["{age} ago", "{age} lalu"],
    "r.why": ["Why this priority", "Alasan prioritas"],
    "r.where": ["Location", "Lokasi"],
    "r.noLocation": ["No location given", "Lokasi tidak tersedia"],
    "r.openMaps": ["Open in maps", "Buka di peta"],
    "r.openOsm": ["OpenStreetMap", "OpenStreetMap"],
    "r.status": ["Status", "Status"],
    "r.assignee": ["Assigned to", "Ditugaskan ke"],
    "r.myStatus": ["My status", "Status saya"],
    "r.noStatus": ["not reported yet", "belum melapor"],
    "r.team": ["Team", "Tim"],
    "r.firstSeen": ["First seen", "Pertama terlihat"],
    "r.ack": ["Acknowledge", "Terima"],
    "r.enRoute": ["En route", "Berangkat"],
    "r.onScene": ["On scene", "Tiba di lokasi"],
    "r.done": ["Done", "Selesai"],
    "r.acked": ["Acknowledged", "Diterima"],
    "r.reported": ["Reported: {status}", "Dilaporkan: {status}"],
    "r.noteTitle": ["Note or photo from the scene", "Catatan atau foto dari lokasi"],
    "r.notePlaceholder": ["What do you see?", "Apa yang Anda lihat?"],
    "r.photo": ["Take a photo", "Ambil foto"],
    "r.photoRemove": ["Remove the photo", "Hapus foto"],
    "r.photoBad": ["This is not a picture that can be sent: {detail}", "Gambar ini tidak dapat dikirim: {detail}"],
    "r.photoBig": ["The photo is too big even after shrinking it", "Foto terlalu besar meski sudah diperkecil"],
    "r.send": ["Send", "Kirim"],
    "r.sending": ["Sending…", "Mengirim…"],
    "r.noteEmpty": ["Write a note or take a photo first", "Tulis catatan atau ambil foto dulu"],
    "r.noteSent": ["Note sent", "Catatan terkirim"],
    "r.evidence": ["Camera snapshot", "Cuplikan kamera"],
    "r.district": ["District", "Kecamatan"],
    "r.coords": ["Coordinates", "Koordinat"],
    "r.notes": ["Notes", "Catatan"],
    "r.noNotes": ["No notes yet", "Belum ada catatan"],
    "r.photoAlt": ["Photo from the scene by {who}", "Foto dari lokasi oleh {who}"],
    "r.standDown": ["Stand down: {title} is {status}", "Tugas dihentikan: {title} — {status}"],
    "r.standDownTitle": ["Stand down", "Tugas dihentikan"],
    "r.dismiss": ["OK", "OK"],
    "r.closedHere": ["This alert is {status}: no more action needed.", "Peringatan ini {status}: tidak perlu tindakan lagi."],
    "r.gone": ["This alert is no longer yours or no longer exists", "Peringatan ini bukan tugas Anda lagi atau sudah tidak ada"],
    "r.conflict": ["The alert changed meanwhile; it has been reloaded", "Peringatan berubah sementara itu; sudah dimuat ulang"],
    "r.wrongRole": ["This page is for responders; {role} accounts use the operator console.", "Halaman ini untuk petugas; akun {role} memakai konsol operator."],
    "r.toConsole": ["Open the operator console", "Buka konsol operator"],
    "push.on": ["Notifications on", "Notifikasi aktif"],
    "push.off": ["Turn on notifications", "Aktifkan notifikasi"],
    "push.unsupported": ["This browser cannot receive notifications", "Peramban ini tidak dapat menerima notifikasi"],
    "push.denied": ["Notifications are blocked for this site in the browser settings", "Notifikasi diblokir untuk situs ini di pengaturan peramban"],
    "push.notConfigured": ["Push notifications are not set up on the server", "Notifikasi push belum disiapkan di server"],
    "push.failed": ["Cannot turn on notifications: {detail}", "Tidak dapat mengaktifkan notifikasi: {detail}"],
    "push.enabled": ["You will be notified of new alerts", "Anda akan diberi tahu jika ada peringatan baru"],
    "push.disabled": ["Notifications turned off", "Notifikasi dimatikan"],
  };

  const { en, id } = P.i18n.dictionaries;
  for (const [key, [english, indonesian]] of Object.entries(STRINGS)) {
    en[key] = english;
    id[key] = indonesian;
  }
})();
