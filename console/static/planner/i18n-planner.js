/* Pantau planner: the history page's strings, in English and Indonesian, added to the operator UI's
 * dictionaries (i18n.js: t(), the language switch and the city's time zone are shared). */
(() => {
  "use strict";
  const P = window.Pantau;

  // key: [English, Indonesian]
  const STRINGS = {
    "pl.subtitle": ["Planning and history — sign in", "Perencanaan dan riwayat — masuk"],
    "pl.heading": ["History", "Riwayat"],
    "pl.from": ["From", "Dari"],
    "pl.to": ["To (inclusive)", "Sampai (termasuk)"],
    "pl.quick": ["Quick range", "Rentang cepat"],
    "pl.bucket": ["Bucket", "Satuan waktu"],
    "pl.bucket1h": ["hour", "jam"],
    "pl.bucket1d": ["day", "hari"],
    "pl.groupBy": ["Group by", "Kelompokkan per"],
    "pl.gDistrict": ["district", "kecamatan"],
    "pl.gType": ["type", "jenis"],
    "pl.gSource": ["source", "sumber"],
    "pl.district": ["District", "Kecamatan"],
    "pl.type": ["Type", "Jenis"],
    "pl.any": ["any", "semua"],
    "pl.apply": ["Apply", "Terapkan"],
    "pl.cap": ["CAP export", "Ekspor CAP"],
    "pl.csv": ["CSV", "CSV"],
    "pl.csvTitle": ["Download this chart's data as CSV", "Unduh data grafik ini sebagai CSV"],
    "pl.table": ["Table", "Tabel"],
    "pl.chart": ["Chart", "Grafik"],
    "pl.range": ["{from} – {to} ({zone})", "{from} – {to} ({zone})"],
    "pl.badRange": ["Pick a start date on or before the end date", "Pilih tanggal awal sebelum atau sama dengan tanggal akhir"],
    "pl.empty": ["No data in this range", "Tidak ada data dalam rentang ini"],
    "pl.failed": ["Cannot load: {detail}", "Tidak dapat dimuat: {detail}"],
    "pl.loading": ["Loading…", "Memuat…"],
    "pl.incidents": ["Incidents over time", "Insiden dari waktu ke waktu"],
    "pl.readings": ["Readings per district", "Pembacaan sensor per kecamatan"],
    "pl.readingCount": ["Readings", "Pembacaan"],
    "pl.heatmap": ["Incidents by hour of the week", "Insiden per jam dalam seminggu"],
    "pl.responseTimes": ["Response times per priority", "Waktu tanggap per prioritas"],
    "pl.falseAlarms": ["False-alarm rate per camera and rule", "Tingkat alarm palsu per kamera dan aturan"],
    "pl.topSources": ["Noisiest sources", "Sumber paling sering"],
    "pl.sensor": ["Sensor trend", "Tren sensor"],
    "pl.sensorPick": ["Sensor", "Sensor"],
    "pl.sensorShow": ["Show", "Tampilkan"],
    "pl.sensorNone": ["No sensor readings in this range", "Tidak ada pembacaan sensor dalam rentang ini"],
    "pl.sensorUnknown": ["No readings of this sensor", "Tidak ada pembacaan dari sensor ini"],
    "pl.count": ["Incidents", "Insiden"],
    "pl.time": ["Time", "Waktu"],
    "pl.other": ["other", "lainnya"],
    "pl.none": ["(none)", "(tidak ada)"],
    "pl.ackMedian": ["acknowledge, median", "diterima, median"],
    "pl.ackP90": ["acknowledge, p90", "diterima, p90"],
    "pl.resolveMedian": ["resolve, median", "selesai, median"],
    "pl.resolveP90": ["resolve, p90", "selesai, p90"],
    "pl.minutes": ["minutes", "menit"],
    "pl.priority": ["Priority", "Prioritas"],
    "pl.alerts": ["alerts", "peringatan"],
    "pl.rate": ["False alarms", "Alarm palsu"],
    "pl.closed": ["closed", "ditutup"],
    "pl.source": ["Source", "Sumber"],
    "pl.rule": ["Rule", "Aturan"],
    "pl.avg": ["average", "rata-rata"],
    "pl.minmax": ["min – max", "min – maks"],
    "pl.value": ["Value", "Nilai"],
    "pl.weekday": ["Day", "Hari"],
    "pl.hour": ["Hour", "Jam"],
    "pl.days": ["Mon,Tue,Wed,Thu,Fri,Sat,Sun", "Sen,Sel,Rab,Kam,Jum,Sab,Min"],
    "pl.total": ["{n} incidents in total", "{n} insiden total"],
    "pl.wrongRole": ["This page is for planners; responders use the responder page.", "Halaman ini untuk perencana; petugas lapangan memakai halaman petugas."],
  };

  const { en, id } = P.i18n.dictionaries;
  for (const [key, [english, indonesian]] of Object.entries(STRINGS)) {
    en[key] = english;
    id[key] = indonesian;
  }
})();
