"""The daily report people read: per site, a traffic-light summary, charts, HTML for the phone and PDF for the
printer, in the reader's language and the site's day; generated every morning and sent to the site's managers."""
