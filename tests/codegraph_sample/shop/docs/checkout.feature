Feature: Checkout
  Scenario: a zero quantity is refused
    Given an empty cart
    When the customer adds a product with quantity 0
    Then check_quantity raises ValidationError
