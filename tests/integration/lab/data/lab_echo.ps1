param($Text)
# Test script of the lab: its handler answers with the text and the host name.
@{ echo = $Text }
