/* 监考 in the browser: the camera preview and 人脸验证 before the start (notice page), and during
   the attempt a snapshot every N seconds and at 交卷, sent in the background (the exam never
   waits for them; a failed upload is retried), 切屏 and a stopped camera reported. */
(function () {
  'use strict';

  function openCamera(video) {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      return Promise.reject(new Error('no camera api'));
    }
    return navigator.mediaDevices.getUserMedia({video: {width: 640, height: 480}, audio: false})
      .then(function (stream) {
        video.srcObject = stream;
        return video.play().catch(function () {}).then(function () { return stream; });
      });
  }

  function capture(video, width) {
    return new Promise(function (resolve) {
      var w = video.videoWidth, h = video.videoHeight;
      if (!w || !h) { resolve(null); return; }
      var scale = Math.min(1, width / w), canvas = document.createElement('canvas');
      canvas.width = Math.round(w * scale);
      canvas.height = Math.round(h * scale);
      canvas.getContext('2d').drawImage(video, 0, 0, canvas.width, canvas.height);
      canvas.toBlob(resolve, 'image/jpeg', 0.85);
    });
  }

  // --- 人脸验证 before 我知晓—开始考试 ---------------------------------------------------------
  var verify = document.getElementById('face-verify');
  if (verify) {
    var video = document.getElementById('camera');
    var result = document.getElementById('verify-result');
    var button = document.getElementById('verify-face');
    var start = document.getElementById('start-exam');
    openCamera(video).then(function () {
      result.textContent = '';
      button.disabled = false;
    }).catch(function () {
      result.textContent = verify.dataset.noCamera;
      result.className = 'dk-error';
    });
    button.addEventListener('click', function () {
      button.disabled = true;
      result.className = 'dk-muted';
      result.textContent = verify.dataset.checking;
      capture(video, 640).then(function (blob) {
        var form = new FormData();
        form.append('picture', blob || new Blob(), 'face.jpg');
        return fetch(verify.dataset.verifyUrl, {method: 'POST', credentials: 'same-origin',
          headers: {'X-CSRFToken': verify.dataset.csrf}, body: form});
      }).then(function (r) { return r.json(); }).then(function (body) {
        result.textContent = body.message;
        result.className = body.passed ? 'dk-ok' : 'dk-error';
        start.disabled = !body.passed;
        button.disabled = false;
      }).catch(function () {
        result.textContent = verify.dataset.failed;
        result.className = 'dk-error';
        button.disabled = false;
      });
    });
  }

  // --- during the attempt -------------------------------------------------------------------
  var exam = document.getElementById('exam');
  if (!exam || !exam.dataset.snapshotUrl) { return; }
  var camera = document.getElementById('camera');
  var status = document.getElementById('camera-status');
  var csrf = exam.dataset.csrf, device = exam.dataset.device;
  var interval = Math.max(parseInt(exam.dataset.snapshotInterval, 10) || 30, 1) * 1000;
  var pending = [], sending = false, stopped = false;

  function report(event) {
    return fetch(exam.dataset.eventUrl, {method: 'POST', credentials: 'same-origin',
      keepalive: true, headers: {'Content-Type': 'application/json', 'X-CSRFToken': csrf},
      body: JSON.stringify({event: event, device: device})}).catch(function () {});
  }

  function send(item, keepalive) {
    var form = new FormData();
    form.append('picture', item.blob, 'snapshot.jpg');
    form.append('kind', item.kind);
    form.append('device', device);
    return fetch(exam.dataset.snapshotUrl, {method: 'POST', credentials: 'same-origin',
      keepalive: !!keepalive, headers: {'X-CSRFToken': csrf}, body: form});
  }

  // One upload at a time; a network failure keeps the picture and tries again later.
  function drain() {
    if (sending || !pending.length) { return; }
    sending = true;
    var item = pending[0];
    send(item).then(function (r) {
      pending.shift();  // stored, or refused for good (handed in, another device)
      if (r.status === 400) { stopped = true; pending = []; }
      item.tries = 0;
      sending = false;
      drain();
    }).catch(function () {
      sending = false;
      item.tries = (item.tries || 0) + 1;
      setTimeout(drain, Math.min(1000 * Math.pow(2, item.tries), 30000));
    });
  }

  function take(kind) {
    return capture(camera, 480).then(function (blob) {
      if (blob) { pending.push({blob: blob, kind: kind}); drain(); }
      return blob;
    });
  }

  function cameraStopped() {
    status.textContent = exam.dataset.noCamera;
    report('camera_stopped');
  }

  openCamera(camera).then(function (stream) {
    stream.getVideoTracks().forEach(function (track) {
      track.addEventListener('ended', cameraStopped);
    });
    setTimeout(function () { take('interval'); }, 1500);
    setInterval(function () { if (!stopped) { take('interval'); } }, interval);
  }).catch(cameraStopped);

  document.addEventListener('visibilitychange', function () {
    if (document.visibilityState === 'hidden' && !stopped) { report('page_hidden'); }
  });

  // 交卷: one last picture, sent as the page leaves (keepalive); the hand-in does not wait.
  var form = document.getElementById('submit-form');
  form.addEventListener('submit', function (event) {
    if (event.defaultPrevented || !camera.videoWidth) { return; }
    var canvas = document.createElement('canvas');
    var scale = Math.min(1, 320 / camera.videoWidth);
    canvas.width = Math.round(camera.videoWidth * scale);
    canvas.height = Math.round(camera.videoHeight * scale);
    canvas.getContext('2d').drawImage(camera, 0, 0, canvas.width, canvas.height);
    // Synchronously (toBlob would call back after the page has gone).
    var bytes = atob(canvas.toDataURL('image/jpeg', 0.7).split(',')[1]);
    var buffer = new Uint8Array(bytes.length);
    for (var i = 0; i < bytes.length; i += 1) { buffer[i] = bytes.charCodeAt(i); }
    send({blob: new Blob([buffer], {type: 'image/jpeg'}), kind: 'hand_in'}, true)
      .catch(function () {});
  });
})();
