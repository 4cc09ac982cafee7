// OAuth 2.0 Form Post Response Mode: submits the response form as soon as the page loads. An
// external script (the provider's CSP allows no inline script); without scripts, the page's
// Continue button does the same.
(function () {
  var form = document.getElementById('form-post');
  if (form) {
    form.submit();
  }
})();
