#!/usr/bin/env python3
"""Drives the gbsm consumer portal in headless Chromium with Selenium.

Usage: portal_test.py BASE_URL MPXN CODE SCREENSHOT_DIR OTHER_USER_EUI

Signs in with the premises' IHD code, visits every page (saving a screenshot of each),
gives a consent with the form, checks the access log and the export, shows that an
edited session cookie gets nobody in, and signs out. Prints one JSON object with what it
saw; exits non-zero on the first failed check.
"""
import json
import os
import sys
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.support.ui import Select, WebDriverWait


def main():
    base, mpxn, code, shots, other_user = sys.argv[1:6]
    os.makedirs(shots, exist_ok=True)
    for old in os.listdir(shots):
        if old.endswith(".png"):
            os.remove(os.path.join(shots, old))
    options = Options()
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1200,1400"):
        options.add_argument(flag)
    binary = os.environ.get("CHROMIUM_BINARY", "/usr/bin/chromium")
    if os.path.exists(binary):
        options.binary_location = binary
    service = Service(os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver"))
    driver = webdriver.Chrome(service=service, options=options)
    seen = {}
    try:
        def shot(name):
            path = os.path.join(shots, name + ".png")
            driver.save_screenshot(path)
            seen.setdefault("screenshots", []).append(path)

        def click(element_id):
            """Clicks and waits for the next page to replace this one."""
            page = driver.find_element(By.TAG_NAME, "html")
            driver.find_element(By.ID, element_id).click()
            WebDriverWait(driver, 15).until(lambda _: replaced(page))

        def replaced(page):
            """Whether the old page is gone. Chrome may answer for a node of a document being
            replaced with an inspector error instead of a stale reference: gone as well."""
            try:
                page.is_enabled()
                return False
            except (StaleElementReferenceException, WebDriverException):
                return True

        def check(condition, message):
            if not condition:
                shot("failure")
                raise AssertionError(message)

        # A wrong code is refused.
        driver.get(base + "/portal")
        driver.find_element(By.ID, "mpxn").send_keys(mpxn)
        driver.find_element(By.ID, "code").send_keys("WRONG-CODE")
        click("signin")
        check("do not match" in driver.find_element(By.ID, "error").text, "a wrong code is refused")
        shot("01-sign-in-refused")

        driver.find_element(By.ID, "mpxn").send_keys(mpxn)
        driver.find_element(By.ID, "code").send_keys(code.lower())
        click("signin")
        check(driver.current_url.endswith("/portal/home"), "signed in: " + driver.current_url)
        check(len(driver.find_elements(By.CSS_SELECTOR, "#chart-electricity rect")) == 48, "48 half hours drawn")
        seen["gas_chart"] = len(driver.find_elements(By.ID, "chart-gas")) == 1
        seen["day_costs"] = driver.find_element(By.ID, "costs").text
        shot("02-consumption-half-hourly")
        click("view-month")
        check(len(driver.find_elements(By.CSS_SELECTOR, "#chart-electricity rect")) >= 28, "a month of days")
        shot("03-consumption-daily")
        click("view-year")
        seen["months"] = len(driver.find_elements(By.CSS_SELECTOR, "#months tr")) - 1
        check(seen["months"] >= 12, "a year of months")
        shot("04-consumption-monthly")

        driver.get(base + "/portal/consents")
        Select(driver.find_element(By.ID, "party")).select_by_value(other_user)
        Select(driver.find_element(By.ID, "purpose")).select_by_value("research")
        Select(driver.find_element(By.ID, "granularity")).select_by_value("daily")
        click("grant")
        message = driver.find_element(By.ID, "message").text
        check("Consent given" in message, "consent given: " + message)
        seen["consent_message"] = message
        seen["active_consents"] = len(driver.find_elements(By.CSS_SELECTOR, "#active tr")) - 1
        shot("05-consents")

        driver.get(base + "/portal/access")
        rows = driver.find_elements(By.CSS_SELECTOR, "#access-log tr")[1:]
        seen["access_rows"] = [[cell.text for cell in row.find_elements(By.TAG_NAME, "td")][:6] for row in rows]
        check(any("refused" in row for row in seen["access_rows"]), "a refusal is listed")
        check(any("released" in row for row in seen["access_rows"]), "a release is listed")
        shot("06-who-accessed-my-data")

        driver.get(base + "/portal/reveal")
        seen["reveal_rows"] = len(driver.find_elements(By.CSS_SELECTOR, "#reveal tr")) - 1
        check(seen["reveal_rows"] >= 8, "inferences listed")
        shot("07-what-my-data-reveals")

        driver.get(base + "/portal/rules")
        check("Your network operator" in driver.page_source, "the statement of what each party may do")
        shot("08-who-may-see-what")

        driver.get(base + "/portal/export")
        shot("09-export")
        cookie = driver.get_cookie("gbsm_portal")["value"]
        request = urllib.request.Request(base + "/portal/export.csv", headers={"Cookie": "gbsm_portal=" + cookie})
        lines = urllib.request.urlopen(request).read().decode().splitlines()
        check(lines[0] == "period_start,import_wh,export_wh,gas_litres", "CSV header")
        seen["export_rows"] = len(lines) - 1

        # Another home by editing the session cookie: back to sign-in.
        fields = cookie.split(".")
        fields[0] = str(int(fields[0]) + 1)
        driver.delete_all_cookies()
        driver.add_cookie({"name": "gbsm_portal", "value": ".".join(fields), "path": "/portal"})
        driver.get(base + "/portal/home")
        check(driver.current_url.endswith("/portal"), "an edited cookie is refused: " + driver.current_url)
        seen["tampered_cookie_refused"] = True
        # The same straight to another page, without the browser: refused too.
        request = urllib.request.Request(base + "/portal/export.csv", headers={"Cookie": "gbsm_portal=" + ".".join(fields)})
        check(b"period_start" not in urllib.request.urlopen(request).read(), "no export with an edited cookie")

        driver.delete_all_cookies()
        driver.add_cookie({"name": "gbsm_portal", "value": cookie, "path": "/portal"})
        driver.get(base + "/portal/home")
        click("signout")
        driver.get(base + "/portal/home")
        check(driver.current_url.endswith("/portal"), "signed out")
    finally:
        driver.quit()
    print(json.dumps(seen))


if __name__ == "__main__":
    main()
