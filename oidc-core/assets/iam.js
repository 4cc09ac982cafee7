// AHS IAM's pages, progressive enhancement only: every form works without this file, and the
// server checks everything again. It moves the focus to the first field with an error, checks
// the password rules while the person types, and stops a second submit of the same form.
(function () {
  'use strict';

  // Focus on the first field the server marked invalid (after autofocus, which may be elsewhere).
  var invalid = document.querySelector('[aria-invalid="true"]');
  if (invalid && typeof invalid.focus === 'function') {
    invalid.focus();
  }

  // No double submit: the first submit goes, later ones (a double click, Enter pressed twice) do
  // nothing. Buttons stay enabled, so that the button pressed is still sent with the form.
  Array.prototype.forEach.call(document.querySelectorAll('form[method="post"]'), function (form) {
    form.addEventListener('submit', function (e) {
      if (form.getAttribute('data-sent') === '1') {
        e.preventDefault();
        return;
      }
      form.setAttribute('data-sent', '1');
      form.setAttribute('aria-busy', 'true');
    });
  });
  // Back to a page from the browser's cache: its forms may be sent again.
  window.addEventListener('pageshow', function () {
    Array.prototype.forEach.call(document.querySelectorAll('form[data-sent]'), function (form) {
      form.removeAttribute('data-sent');
      form.removeAttribute('aria-busy');
    });
  });

  // The password rules, checked as the person types (the ones a page can check; the others, such
  // as the breached-password list and the history, are checked when the form is sent).
  var password = document.getElementById('new_password');
  var rules = document.querySelectorAll('[data-rule]');
  if (!password || rules.length === 0) {
    return;
  }
  var confirm = document.getElementById('confirm_password');
  var username = (password.getAttribute('data-username') || '').toLowerCase();
  var summary = document.getElementById('rules-status');

  function classes(p) {
    var n = 0;
    if (/\p{Ll}/u.test(p)) n += 1;
    if (/\p{Lu}/u.test(p)) n += 1;
    if (/\p{Nd}/u.test(p)) n += 1;
    if (/[^\p{L}\p{Nd}\s]/u.test(p)) n += 1;
    return n;
  }

  function met(rule, p) {
    var arg = rule.getAttribute('data-arg') || '';
    var length = Array.from(p.normalize('NFKC')).length;
    switch (rule.getAttribute('data-rule')) {
      case 'min': return length >= Number(arg);
      case 'max': return length <= Number(arg);
      case 'classes': return classes(p) >= Number(arg);
      case 'personal': return username.length < 3 || p.toLowerCase().indexOf(username) < 0;
      case 'words': return arg.split('|').every(function (w) {
        return !w || p.toLowerCase().indexOf(w.toLowerCase()) < 0;
      });
      default: return null;
    }
  }

  function update() {
    var p = password.value;
    var checked = 0;
    var ok = 0;
    Array.prototype.forEach.call(rules, function (rule) {
      var state = p === '' ? null : met(rule, p);
      var mark = rule.querySelector('.rule-state');
      rule.classList.toggle('rule-met', state === true);
      rule.classList.toggle('rule-unmet', state === false);
      if (mark) {
        mark.textContent = state === true ? ' (met)' : state === false ? ' (not met yet)' : '';
      }
      if (state !== null) {
        checked += 1;
        if (state) ok += 1;
      }
    });
    if (summary) {
      summary.textContent = p === '' ? '' : ok + ' of ' + checked + ' rules checked here are met.';
    }
    if (confirm) {
      var hint = document.getElementById('confirm-status');
      if (hint) {
        hint.textContent = confirm.value === '' ? '' :
          confirm.value === p ? 'The two passwords are the same.' : 'The two passwords are not the same yet.';
      }
    }
  }

  password.addEventListener('input', update);
  if (confirm) {
    confirm.addEventListener('input', update);
  }
  update();
})();
